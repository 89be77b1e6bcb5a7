#!/usr/bin/env python3.11
"""dirac benchmark: our `dirac-mcp` (Rust) side by side with dirac-agentic's `dirac-mcp` (Python).

Both servers talk over stdio to the same local DiracX (the env file of `cargo xtask diracx up`)
as the same user, alice, each with its own credentials file in the `dirac login` format
(DIRACX_CREDENTIALS_PATH): both refresh rotating refresh tokens, and two refreshers of one token
would trip DiracX's reuse detection. The bench speaks raw JSON-RPC over the servers' stdin/stdout
(newline-delimited JSON), so no MCP client library sits in the numbers.

Measured, for both servers:
  a. spawn -> `tools/list` reply: fresh process each run, clock started before spawn
     (initialize + notifications/initialized + tools/list); median and min over --runs.
  b. peak RSS (VmHWM) of the server after initialize, tools/list and all the tool calls.
  c. job search and job summary: --calls sequential `tools/call`s of each in one session, p50 and
     p95; each tool call is followed by the same query as a direct REST call ("REST beside"):
     same moment, same DiracX state, so the 1 ms targets compare with those, and the median of
     the paired differences is the overhead.
  d. the same two queries straight to the DiracX REST API over one keep-alive connection with the
     bearer of a third credentials file, alone before the servers: p50/p95, the floor both
     servers sit on.
Their server runs as installed (`dirac-mcp`, MCP_TRANSPORT=stdio) with FastMCP's update check
off (FASTMCP_CHECK_FOR_UPDATES=off: it would ask PyPI at start-up). Afterwards, untimed, a few
read tools once each (one job, its sandboxes) to show what each server answers, with DiracX's
own answer beside it.

Python 3.11 standard library only. Every read has a timeout; every child is killed at the end.
Usage (normally through `cargo xtask bench dirac`):
  dirac_bench.py --ours target/release/dirac-mcp --theirs VENV/bin/dirac-mcp \
      --env target/diracx/env --ours-credentials A.json --theirs-credentials B.json \
      --rest-credentials C.json [--runs 20] [--calls 200] [--json target/bench/dirac.json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

PROTOCOL_VERSION = "2025-11-25"

# Our defaults, which the REST calls and the other server are given too.
FIELDS = ["JobID", "JobName", "Status", "MinorStatus", "ApplicationStatus", "Site", "Owner",
          "LastUpdateTime"]
PER_PAGE = 20
REST_SEARCH_PATH = f"/api/jobs/search?page=1&per_page={PER_PAGE}"
REST_SEARCH_BODY = {"parameters": FIELDS, "search": [],
                    "sort": [{"parameter": "JobID", "direction": "desc"}]}
REST_SUMMARY_PATH = "/api/jobs/summary"
REST_SUMMARY_BODY = {"grouping": ["Status"], "search": []}

OURS_SEARCH = ("dirac_search_jobs", {"per_page": PER_PAGE})
OURS_SUMMARY = ("dirac_job_summary", {})
THEIRS_SEARCH_TOOL = "search_jobs"
THEIRS_SUMMARY = ("get_job_status_summary", {})
PROBE_JOB = 2  # alice_done in the kit's seed

START_TIMEOUT = 60.0  # spawn -> tools/list reply (a cold Python import can be slow)
CALL_TIMEOUT = 30.0  # one request -> its reply
REFRESH_MARGIN = 120  # seconds: refresh the REST bearer when it expires sooner than this


from mcp_stdio import BenchError, Server, dist, percentile, read_env, spawn_to_tools_list


class Rest:
    """Direct DiracX REST calls over one keep-alive connection, with the bearer of a credentials
    file of its own (refreshed, and written back, when it is about to expire)."""

    def __init__(self, env: dict[str, str], credentials: Path):
        url = urllib.parse.urlsplit(env["DIRACX_URL"])
        if url.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise BenchError(f"DIRACX_URL {env['DIRACX_URL']} is not a local address")
        cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        self.url = env["DIRACX_URL"]
        self.client_id = env.get("DIRACX_CLIENT_ID", "myDIRACClientID")
        self.base = url.path.rstrip("/")
        self.credentials = credentials
        self.conn = cls(url.hostname, url.port, timeout=CALL_TIMEOUT)
        try:
            self.conn.connect()  # so the first timed call does not pay the TCP handshake
        except OSError as e:
            raise BenchError(f"REST: {self.url}: {e}")
        self.bearer = self.load_bearer()

    def load_bearer(self) -> str:
        try:
            creds = json.loads(self.credentials.read_text())
        except (OSError, ValueError) as e:
            raise BenchError(f"REST: cannot read {self.credentials}: {e}")
        if int(creds.get("expires_on", 0)) - time.time() < REFRESH_MARGIN:
            creds = self.refresh(creds)
        return creds["access_token"]

    def refresh(self, creds: dict) -> dict:
        form = urllib.parse.urlencode({"grant_type": "refresh_token", "client_id": self.client_id,
                                       "refresh_token": creds.get("refresh_token") or ""})
        status, body, _ = self.raw("POST", "/api/auth/token", form.encode(),
                                   {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 200:
            raise BenchError(f"REST: refreshing the bearer failed: {status} {body[:200]!r}")
        tok = json.loads(body)
        creds = {"access_token": tok["access_token"],
                 "refresh_token": tok.get("refresh_token", creds.get("refresh_token")),
                 "expires_on": int(time.time()) + int(tok.get("expires_in", 0)) - 15}
        fd = os.open(self.credentials, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(creds, fh)
        return creds

    def raw(self, method: str, path: str, body: bytes | None, headers: dict) -> tuple:
        try:
            self.conn.request(method, self.base + path, body=body, headers=headers)
            resp = self.conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise BenchError(f"REST: {method} {self.url}{path}: {e}")
        return resp.status, data, resp

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[float, int, bytes]:
        """One timed call: (milliseconds, status, body). A 401 refreshes the bearer and retries
        once (the retry is what is timed)."""
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {self.bearer}", "Accept": "application/json"}
            if data is not None:
                headers["Content-Type"] = "application/json"
            t0 = time.perf_counter()
            status, out, _ = self.raw(method, path, data, headers)
            dt = (time.perf_counter() - t0) * 1000
            if status == 401 and attempt == 0:
                self.bearer = self.refresh(json.loads(self.credentials.read_text()))["access_token"]
                continue
            return dt, status, out
        raise AssertionError("unreachable")

    def search(self) -> float:
        dt, status, out = self.call("POST", REST_SEARCH_PATH, REST_SEARCH_BODY)
        if status not in (200, 206):
            raise BenchError(f"REST: {REST_SEARCH_PATH} -> {status} {out[:200]!r}")
        return dt

    def summary(self) -> float:
        dt, status, out = self.call("POST", REST_SUMMARY_PATH, REST_SUMMARY_BODY)
        if status != 200:
            raise BenchError(f"REST: {REST_SUMMARY_PATH} -> {status} {out[:200]!r}")
        return dt

    def close(self) -> None:
        self.conn.close()


def bench_rest(env: dict[str, str], credentials: Path, calls: int) -> dict:
    rest = Rest(env, credentials)
    try:
        _, status, body = rest.call("POST", REST_SEARCH_PATH, REST_SEARCH_BODY)  # what it returns
        jobs = len(json.loads(body)) if status in (200, 206) else None
        search_bytes = len(body)
        _, status, body = rest.call("POST", REST_SUMMARY_PATH, REST_SUMMARY_BODY)
        total = sum(r.get("count", 0) for r in json.loads(body)) if status == 200 else None
        summary_bytes = len(body)
        search = [rest.search() for _ in range(calls)]
        summary = [rest.summary() for _ in range(calls)]
    finally:
        rest.close()
    res = {"search_ms": dist(search), "summary_ms": dist(summary), "jobs": jobs,
           "summary_total": total, "search_reply_bytes": search_bytes,
           "summary_reply_bytes": summary_bytes}
    print(f"[rest] search p50 {res['search_ms']['p50']:.2f} ms, p95 {res['search_ms']['p95']:.2f}"
          f" ms ({jobs} jobs); summary p50 {res['summary_ms']['p50']:.2f} ms, p95 "
          f"{res['summary_ms']['p95']:.2f} ms ({total} jobs)", file=sys.stderr)
    return res


def payload(result: dict):
    """The tool result's structured content, or its first text block parsed as JSON."""
    if isinstance(result.get("structuredContent"), dict):
        return result["structuredContent"]
    for block in result.get("content", []):
        if block.get("type") == "text":
            try:
                return json.loads(block["text"])
            except (ValueError, KeyError):
                return {"text": block.get("text")}
    return {}


def tool_error(result: dict) -> str | None:
    """Why a tool call failed, in either server's way of saying it: MCP's `isError`, or
    dirac-agentic's `{"success": false, "error": ...}` in an otherwise successful result."""
    body = payload(result)
    if result.get("isError"):
        text = " ".join(b.get("text", "") for b in result.get("content", []) if b.get("text"))
        return text[:500] or json.dumps(result)[:500]
    if isinstance(body, dict) and body.get("success") is False:
        return str(body.get("error"))[:500]
    return None


def theirs_search_args(tools: list[dict]) -> dict:
    """Arguments of dirac-agentic's `search_jobs` that ask for what ours is asked for (every job
    of the user, our default fields, 20 a page), from its input schema: versions differ."""
    tool = next((t for t in tools if t.get("name") == THEIRS_SEARCH_TOOL), None)
    if tool is None:
        names = ", ".join(t.get("name", "?") for t in tools)
        raise BenchError(f"theirs: no {THEIRS_SEARCH_TOOL} tool (it lists: {names})")
    schema = tool.get("inputSchema") or {}
    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    args: dict = {"per_page": PER_PAGE}
    if "conditions" in props:
        args["conditions"] = []
    elif "parameter" in required:
        # This version needs one condition: one every job meets.
        args.update({"parameter": "JobID", "operator": "gt", "value": "0"})
    if "result_fields" in props:
        args["result_fields"] = FIELDS
    elif "parameters" in props:  # the field list's name in older versions
        args["parameters"] = FIELDS
    unknown = required - set(args)
    if unknown:
        raise BenchError(f"theirs: {THEIRS_SEARCH_TOOL} requires {sorted(unknown)}, which this "
                         f"bench does not know how to fill: {json.dumps(schema)[:500]}")
    return args


def jobs_in(label: str, body) -> tuple[int | None, int | None]:
    """(jobs on the page, total matches) of a search reply of either server."""
    if not isinstance(body, dict):
        return None, None
    if label == "ours":
        jobs = body.get("jobs")
        return (len(jobs) if isinstance(jobs, list) else None), body.get("total")
    jobs = body.get("data")
    total = (body.get("pagination") or {}).get("total")
    return (len(jobs) if isinstance(jobs, list) else None), total


def summary_total(label: str, body) -> int | None:
    if not isinstance(body, dict):
        return None
    return body.get("total") if label == "ours" else body.get("total_jobs")


def timed_calls(label: str, srv: Server, rest: Rest, name: str, args: dict, calls: int,
                rest_call) -> tuple[list[float], list[float], list[float], dict]:
    """`calls` sequential tool calls, each followed by the same REST call. No warm-up: the first
    call pays whatever a real session's first call pays (nearest-rank p95 drops the top 5 %)."""
    params = {"name": name, "arguments": args}
    lat: list[float] = []
    rest_lat: list[float] = []
    paired: list[float] = []
    first = None
    for i in range(calls):
        t0 = time.perf_counter()
        res = srv.request("tools/call", params)
        lat.append((time.perf_counter() - t0) * 1000)
        err = tool_error(res)
        if err is not None:
            raise BenchError(f"{label}: {name} {json.dumps(args)} returned an error (call {i + 1}):"
                             f" {err}")
        reply_bytes = srv.last_reply_bytes
        rest_lat.append(rest_call())
        paired.append(lat[-1] - rest_lat[-1])
        if first is None:
            body = payload(res)
            first = body if isinstance(body, dict) else {"value": body}
            first["_reply_bytes"] = reply_bytes
    return lat, rest_lat, paired, first


def probe_tools(label: str, srv: Server) -> dict:
    """A few read tools once each, untimed: what each server answers for one job."""
    if label == "ours":
        probes = {"get_job": ("dirac_get_job", {"job_id": PROBE_JOB}),
                  "sandboxes": ("dirac_list_sandboxes", {"job_id": PROBE_JOB})}
    else:
        probes = {"get_job": ("get_job", {"job_id": PROBE_JOB}),
                  "sandboxes": ("get_job_sandboxes", {"job_id": PROBE_JOB})}
    out = {}
    for key, (name, args) in probes.items():
        try:
            res = srv.request("tools/call", {"name": name, "arguments": args})
        except BenchError as e:
            out[key] = {"tool": name, "arguments": args, "ok": False, "error": str(e)[:500]}
            continue
        err = tool_error(res)
        body = payload(res)
        entry: dict = {"tool": name, "arguments": args, "ok": err is None}
        if err is not None:
            entry["error"] = err
        elif key == "sandboxes":
            boxes = body.get("sandboxes", body) if isinstance(body, dict) else {}
            entry["input"] = len(boxes.get("input") or [])
            entry["output"] = len(boxes.get("output") or [])
        else:
            job = body.get("job") or body.get("data") if isinstance(body, dict) else None
            entry["fields"] = len(job) if isinstance(job, dict) else None
            if isinstance(job, dict):
                entry["status"] = job.get("Status")
            if label == "ours":
                entry["history"] = len(body.get("history") or [])
        out[key] = entry
    return out


def bench_server(label: str, argv: list[str], env: dict[str, str], runs: int, calls: int,
                 logdir: Path, diracx_env: dict[str, str], rest_credentials: Path) -> dict:
    stderr_path = logdir / f"dirac-{label}.stderr.log"
    print(f"[{label}] {' '.join(argv)}  (stderr: {stderr_path})", file=sys.stderr)

    # a. spawn -> tools/list, fresh process each run
    startup, init, result = spawn_to_tools_list(label, argv, env, stderr_path, runs, START_TIMEOUT)
    tools: list[dict] = result.get("tools", [])
    server_info: dict = init.get("serverInfo", {})
    print(f"[{label}] startup: median {statistics.median(startup):.1f} ms over {runs} runs, "
          f"{len(tools)} tools", file=sys.stderr)

    if label == "ours":
        search = OURS_SEARCH
        summary = OURS_SUMMARY
    else:
        search = (THEIRS_SEARCH_TOOL, theirs_search_args(tools))
        summary = THEIRS_SUMMARY

    # b + c. one session: initialize, tools/list, the calls; then VmHWM
    srv = Server(label, argv, env, stderr_path)
    rest = None
    try:
        srv.initialize(START_TIMEOUT)
        srv.request("tools/list", {}, START_TIMEOUT)
        rest = Rest(diracx_env, rest_credentials)
        s_lat, s_rest, s_paired, s_first = timed_calls(label, srv, rest, *search, calls,
                                                       rest.search)
        m_lat, m_rest, m_paired, m_first = timed_calls(label, srv, rest, *summary, calls,
                                                       rest.summary)
        hwm_kb = srv.vm_hwm_kb()
        probes = probe_tools(label, srv)
    finally:
        if rest is not None:
            rest.close()
        srv.close()
    jobs, total = jobs_in(label, s_first)
    res = {
        "server_info": server_info,
        "tools": len(tools),
        "tool_names": [t.get("name") for t in tools],
        "search_call": {"name": search[0], "arguments": search[1]},
        "summary_call": {"name": summary[0], "arguments": summary[1]},
        "jobs_returned": jobs,
        "jobs_total": total,
        "summary_total": summary_total(label, m_first),
        "search_reply_bytes": s_first.get("_reply_bytes"),
        "summary_reply_bytes": m_first.get("_reply_bytes"),
        "startup_ms": {"median": statistics.median(startup), "min": min(startup), "runs": runs},
        "peak_rss_mb": hwm_kb / 1024,
        "search_ms": dist(s_lat),
        "summary_ms": dist(m_lat),
        "paired_rest_search_ms": dist(s_rest),
        "paired_rest_summary_ms": dist(m_rest),
        "overhead_search_ms": {"median": statistics.median(s_paired), "calls": calls},
        "overhead_summary_ms": {"median": statistics.median(m_paired), "calls": calls},
        "probes": probes,
    }
    print(f"[{label}] {search[0]}: p50 {res['search_ms']['p50']:.2f} ms, p95 "
          f"{res['search_ms']['p95']:.2f} ms; {summary[0]}: p50 {res['summary_ms']['p50']:.2f} "
          f"ms, p95 {res['summary_ms']['p95']:.2f} ms; VmHWM {res['peak_rss_mb']:.1f} MB",
          file=sys.stderr)
    return res


def rest_raw_sandboxes(env: dict[str, str], credentials: Path) -> dict:
    """DiracX's own answer for the probe job's sandboxes: which keys it uses."""
    rest = Rest(env, credentials)
    try:
        _, status, body = rest.call("GET", f"/api/jobs/{PROBE_JOB}/sandbox")
    finally:
        rest.close()
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    return {"status": status, "keys": sorted(parsed) if isinstance(parsed, dict) else None,
            "body": parsed if isinstance(parsed, dict) else body[:200].decode(errors="replace")}


def log_findings(path: Path) -> dict:
    """How many error lines and tracebacks a server wrote to its stderr over the whole run."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return {}
    lines = text.splitlines()
    return {
        "lines": len(lines),
        "tracebacks": sum("Traceback (most recent call last)" in line for line in lines),
        "error_lines": sum(" ERROR " in line or line.startswith("ERROR") for line in lines),
        "warning_lines": sum("WARN" in line for line in lines),
    }


def venv_versions(theirs: Path) -> dict:
    python = theirs.parent / "python"
    code = ("import importlib.metadata as m, json\n"
            "out = {}\n"
            "for p in ('dirac-mcp', 'diracx', 'diracx-client', 'diracx-core', 'fastmcp', 'mcp'):\n"
            "    try: out[p] = m.version(p)\n"
            "    except m.PackageNotFoundError: out[p] = None\n"
            "print(json.dumps(out))")
    try:
        out = subprocess.run([str(python), "-c", code], capture_output=True, timeout=60,
                             check=True)
        return json.loads(out.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}


def ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("inf")


def render(res: dict) -> str:
    t, o, r = res["theirs"], res["ours"], res["rest"]
    tv = res["theirs_versions"]
    theirs_name = (f"dirac-agentic dirac-mcp {tv.get('dirac-mcp') or '?'} (Python, FastMCP "
                   f"{tv.get('fastmcp') or '?'})")

    def row(name, a, b, fmt, rest=None, beside=None):
        cells = [fmt.format(v) if v is not None else "" for v in (a, b, rest, beside)]
        return f"| {name} | {' | '.join(cells)} | {ratio(a, b):.1f}× |"

    calls = o["search_ms"]["n"]
    lines = [
        f"| figure | {theirs_name} | ours (Rust) | REST alone | REST beside ours | theirs/ours |",
        "|---|---:|---:|---:|---:|---:|",
        row(f"spawn → tools/list, median of {t['startup_ms']['runs']} (ms)",
            t["startup_ms"]["median"], o["startup_ms"]["median"], "{:.1f}"),
        row("spawn → tools/list, min (ms)", t["startup_ms"]["min"], o["startup_ms"]["min"],
            "{:.1f}"),
        row(f"peak RSS after initialize, tools/list and {2 * calls} calls (MB)",
            t["peak_rss_mb"], o["peak_rss_mb"], "{:.1f}"),
    ]
    for kind, label in (("search", "job search"), ("summary", "job summary")):
        for p in ("p50", "p95"):
            lines.append(row(f"{label} {p} ({calls} calls, ms)", t[f"{kind}_ms"][p],
                             o[f"{kind}_ms"][p], "{:.2f}", r[f"{kind}_ms"][p],
                             o[f"paired_rest_{kind}_ms"][p]))
    for kind in ("search", "summary"):
        lines.append(row(f"{kind} overhead over REST, median of paired differences (ms)",
                         t[f"overhead_{kind}_ms"]["median"], o[f"overhead_{kind}_ms"]["median"],
                         "{:+.2f}"))
    lines += [
        f"| tools listed | {t['tools']} | {o['tools']} | | | |",
        f"| jobs in the first search reply (of total) | {t['jobs_returned']} ({t['jobs_total']}) "
        f"| {o['jobs_returned']} ({o['jobs_total']}) | {r['jobs']} | | |",
        f"| jobs counted by the first summary | {t['summary_total']} | {o['summary_total']} | "
        f"{r['summary_total']} | | |",
        f"| reply bytes, search / summary | {t['search_reply_bytes']} / "
        f"{t['summary_reply_bytes']} | {o['search_reply_bytes']} / {o['summary_reply_bytes']} | "
        f"{r['search_reply_bytes']} / {r['summary_reply_bytes']} | | |",
        "",
    ]

    def to_rest(side: dict, kind: str) -> str:
        return " / ".join(f"{ratio(side[f'{kind}_ms'][p], side[f'paired_rest_{kind}_ms'][p]):.2f}×"
                          for p in ("p50", "p95"))

    lines += [
        "Each server over the REST calls made beside it in its own session (p50 / p95): "
        f"search ours {to_rest(o, 'search')}, theirs {to_rest(t, 'search')}; summary ours "
        f"{to_rest(o, 'summary')}, theirs {to_rest(t, 'summary')}.",
        f"Calls: ours {o['search_call']['name']} {json.dumps(o['search_call']['arguments'])} and "
        f"{o['summary_call']['name']} {json.dumps(o['summary_call']['arguments'])}; theirs "
        f"{t['search_call']['name']} {json.dumps(t['search_call']['arguments'])} and "
        f"{t['summary_call']['name']} {json.dumps(t['summary_call']['arguments'])}.",
        "",
        "| target | figure | met |",
        "|---|---|---|",
    ]
    for tgt in res["targets"]:
        lines.append(f"| {tgt['target']} | {tgt['figure']} | {'met' if tgt['met'] else 'MISSED'} |")
    lines.append("")
    lines.append(f"| probe (untimed, job {PROBE_JOB}) | theirs | ours |")
    lines.append("|---|---|---|")
    for key in ("get_job", "sandboxes"):
        cells = []
        for side in (t, o):
            p = side["probes"].get(key, {})
            if not p.get("ok"):
                cells.append(f"`{p.get('tool')}` error: {p.get('error', '?')[:120]}")
            elif key == "sandboxes":
                cells.append(f"`{p['tool']}`: {p['input']} input, {p['output']} output")
            else:
                extra = f", {p['history']} history entries" if "history" in p else ""
                cells.append(f"`{p['tool']}`: {p.get('fields')} fields, Status "
                             f"{p.get('status')}{extra}")
        lines.append(f"| {key} | {cells[0]} | {cells[1]} |")
    raw = res["rest_sandboxes"]
    lines.append(f"| DiracX GET /api/jobs/{PROBE_JOB}/sandbox | {raw['status']}, "
                 f"{json.dumps(raw['body'])[:120]} | |")
    lines.append("")
    for side, name in ((t, "theirs"), (o, "ours")):
        logs = side.get("stderr", {})
        if logs:
            lines.append(f"stderr of {name}: {logs['lines']} lines, {logs['tracebacks']} "
                         f"tracebacks, {logs['error_lines']} ERROR lines")
    lines.append("")
    lines.append("theirs/ours: times faster for latencies, times more memory for RSS. REST alone: "
                 "the same queries measured before the servers; REST beside ours: the same query "
                 "made right after each of our tool calls (same moment, same DiracX state), which "
                 "the 1 ms targets compare with; overheads: tool call minus that REST call.")
    return "\n".join(lines)


def targets(o: dict, t: dict, r: dict) -> list[dict]:
    speedup = ratio(t["startup_ms"]["median"], o["startup_ms"]["median"])
    out = [
        {"target": "ours spawn → tools/list under 10 ms (median)",
         "figure": f"{o['startup_ms']['median']:.1f} ms", "met": o["startup_ms"]["median"] < 10},
        {"target": "ours ≥ 50× faster to start than theirs (median)",
         "figure": f"{speedup:.0f}×", "met": speedup >= 50},
        {"target": "ours peak RSS under 15 MB", "figure": f"{o['peak_rss_mb']:.1f} MB",
         "met": o["peak_rss_mb"] < 15},
    ]
    for kind in ("search", "summary"):
        for p in ("p50", "p95"):
            gap = o[f"{kind}_ms"][p] - o[f"paired_rest_{kind}_ms"][p]
            alone = o[f"{kind}_ms"][p] - r[f"{kind}_ms"][p]
            out.append({"target": f"ours {kind} within 1 ms of the direct REST call at {p}",
                        "figure": f"{gap:+.2f} ms (against REST alone: {alone:+.2f} ms)",
                        "gap_ms": gap, "gap_to_rest_alone_ms": alone, "met": gap <= 1.0})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ours", required=True, type=Path, help="our dirac-mcp binary")
    ap.add_argument("--theirs", required=True, type=Path,
                    help="dirac-agentic's dirac-mcp executable (in its venv)")
    ap.add_argument("--env", required=True, type=Path, help="env file of `cargo xtask diracx up`")
    ap.add_argument("--ours-credentials", required=True, type=Path)
    ap.add_argument("--theirs-credentials", required=True, type=Path)
    ap.add_argument("--rest-credentials", required=True, type=Path)
    ap.add_argument("--runs", type=int, default=20, help="spawn → tools/list runs (default 20)")
    ap.add_argument("--calls", type=int, default=200,
                    help="calls of each tool / REST query (default 200)")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    ap.add_argument("--logs", type=Path, help="directory for the servers' stderr (default: temp)")
    args = ap.parse_args()
    if args.runs < 1 or args.calls < 1:
        ap.error("--runs and --calls must be at least 1")

    env_file = read_env(args.env)
    if "DIRACX_URL" not in env_file:
        print(f"dirac_bench: {args.env} has no DIRACX_URL", file=sys.stderr)
        return 2
    for exe in (args.ours, args.theirs):
        if not os.access(exe, os.X_OK):
            print(f"dirac_bench: {exe} is not an executable", file=sys.stderr)
            return 2
    creds = {"ours": args.ours_credentials, "theirs": args.theirs_credentials,
             "rest": args.rest_credentials}
    for path in creds.values():
        if not path.is_file():
            print(f"dirac_bench: no credentials file {path}", file=sys.stderr)
            return 2
    if len({p.resolve() for p in creds.values()}) != len(creds):
        print("dirac_bench: each server and the REST probe need a credentials file of their own",
              file=sys.stderr)
        return 2

    logdir = args.logs or Path(tempfile.mkdtemp(prefix="dirac-bench-"))
    logdir.mkdir(parents=True, exist_ok=True)
    for old in logdir.glob("dirac-*.stderr.log"):
        old.unlink()

    base_env = dict(os.environ)
    # Only what is set here: no stray DiracX or MCP settings from the caller's shell.
    for key in list(base_env):
        if key.startswith(("DIRACX_", "DIRAC_MCP_", "MCP_", "FASTMCP_")):
            del base_env[key]
    base_env["DIRACX_URL"] = env_file["DIRACX_URL"]
    ours_env = dict(base_env, DIRACX_CREDENTIALS_PATH=str(creds["ours"]))
    # FastMCP asks PyPI for a newer FastMCP when it prints its banner (2 s timeout, cached for
    # 12 h): off, so that no start depends on the network; the banner itself stays.
    theirs_env = dict(base_env, DIRACX_CREDENTIALS_PATH=str(creds["theirs"]),
                      MCP_TRANSPORT="stdio", FASTMCP_CHECK_FOR_UPDATES="off")
    ours_argv = [str(args.ours), "serve", "--diracx-url", env_file["DIRACX_URL"]]
    theirs_argv = [str(args.theirs)]

    def on_signal(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        rest = bench_rest(env_file, creds["rest"], args.calls)
        theirs = bench_server("theirs", theirs_argv, theirs_env, args.runs, args.calls, logdir,
                              env_file, creds["rest"])
        ours = bench_server("ours", ours_argv, ours_env, args.runs, args.calls, logdir,
                            env_file, creds["rest"])
        rest_sandboxes = rest_raw_sandboxes(env_file, creds["rest"])
    except BenchError as e:
        print(f"dirac_bench: FAILED: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("dirac_bench: interrupted", file=sys.stderr)
        return 130
    finally:
        for srv in list(Server.live):
            srv.kill()
    ours["stderr"] = log_findings(logdir / "dirac-ours.stderr.log")
    theirs["stderr"] = log_findings(logdir / "dirac-theirs.stderr.log")

    res = {
        "protocol_version": PROTOCOL_VERSION,
        "diracx_url": env_file["DIRACX_URL"],
        "diracx_version": env_file.get("DIRACX_VERSION"),
        "user": env_file.get("DIRACX_USER"),
        "theirs_versions": venv_versions(args.theirs),
        "theirs_cmd": theirs_argv,
        "theirs_env": {"MCP_TRANSPORT": "stdio", "FASTMCP_CHECK_FOR_UPDATES": "off"},
        "ours_cmd": ours_argv,
        "rest_search": {"path": REST_SEARCH_PATH, "body": REST_SEARCH_BODY},
        "rest_summary": {"path": REST_SUMMARY_PATH, "body": REST_SUMMARY_BODY},
        "theirs": theirs,
        "ours": ours,
        "rest": rest,
        "rest_sandboxes": rest_sandboxes,
        "ratios": {
            "startup_median_speedup": ratio(theirs["startup_ms"]["median"],
                                            ours["startup_ms"]["median"]),
            "startup_min_speedup": ratio(theirs["startup_ms"]["min"], ours["startup_ms"]["min"]),
            "peak_rss_theirs_over_ours": ratio(theirs["peak_rss_mb"], ours["peak_rss_mb"]),
            **{f"{k}_{p}_speedup": ratio(theirs[f"{k}_ms"][p], ours[f"{k}_ms"][p])
               for k in ("search", "summary") for p in ("p50", "p95")},
            **{f"{k}_{p}_ours_over_rest_beside": ratio(ours[f"{k}_ms"][p],
                                                       ours[f"paired_rest_{k}_ms"][p])
               for k in ("search", "summary") for p in ("p50", "p95")},
            **{f"{k}_{p}_theirs_over_rest_beside": ratio(theirs[f"{k}_ms"][p],
                                                         theirs[f"paired_rest_{k}_ms"][p])
               for k in ("search", "summary") for p in ("p50", "p95")},
            **{f"{k}_{p}_ours_over_rest_alone": ratio(ours[f"{k}_ms"][p], rest[f"{k}_ms"][p])
               for k in ("search", "summary") for p in ("p50", "p95")},
        },
        "targets": targets(ours, theirs, rest),
    }
    print(render(res))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2) + "\n")
        print(f"\nJSON: {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
