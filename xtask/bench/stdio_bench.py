#!/usr/bin/env python3.11
"""stdio benchmark: our `rucio-mcp` (Rust) side by side with PyPI `rucio-mcp` 0.10.0 (Python).

Both servers talk to the same local Rucio (the env file of `cargo xtask rucio up`) with the same
rucio.cfg (RUCIO_CLIENT_CONFIG, userpass as root). The bench speaks raw JSON-RPC over the
servers' stdin/stdout (newline-delimited JSON), so no MCP client library sits in the numbers.

Measured:
  a. spawn -> `tools/list` reply: fresh process each run, clock started before spawn
     (initialize + notifications/initialized + tools/list); median and min over --runs.
  b. peak RSS (VmHWM) of the server after initialize, tools/list and --calls tool calls.
  c. `tools/call rucio_list_dids` --calls times in one session, sequentially: p50/p99.
  d. the same query straight to the REST API over one keep-alive connection: p50/p99, the
     floor both servers sit on.

Python 3.11 standard library only. Every read has a timeout; every child is killed at the end.
Usage (normally through `cargo xtask bench stdio`):
  stdio_bench.py --ours target/release/rucio-mcp --theirs VENV/bin/rucio-mcp \
      --env target/rucio-server/env [--runs 20] [--calls 200] [--json target/bench/stdio.json]
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
TOOL = "rucio_list_dids"
TOOL_ARGS = {"did_pattern": "data24:*", "did_type": "all", "limit": 50}
REST_PATH = "/dids/data24/dids/search?type=all&name=*&limit=51"

START_TIMEOUT = 60.0  # spawn -> tools/list reply (a cold Python import can be slow)
CALL_TIMEOUT = 30.0  # one request -> its reply


from mcp_stdio import BenchError, Server, percentile, read_env, spawn_to_tools_list


def tools_count(result: dict) -> int:
    return len(result.get("tools", []))


def bench_server(label: str, argv: list[str], env: dict[str, str], runs: int, calls: int,
                 logdir: Path, rucio_env: dict[str, str]) -> dict:
    stderr_path = logdir / f"{label}.stderr.log"
    print(f"[{label}] {' '.join(argv)}  (stderr: {stderr_path})", file=sys.stderr)

    # a. spawn -> tools/list, fresh process each run
    startup, _, result = spawn_to_tools_list(label, argv, env, stderr_path, runs, START_TIMEOUT)
    ntools = tools_count(result)
    print(f"[{label}] startup: median {statistics.median(startup):.1f} ms over {runs} runs, "
          f"{ntools} tools", file=sys.stderr)

    # b + c. one session: initialize, tools/list, `calls` tool calls; then VmHWM
    srv = Server(label, argv, env, stderr_path)
    try:
        srv.initialize(START_TIMEOUT)
        srv.request("tools/list", {}, START_TIMEOUT)
        params = {"name": TOOL, "arguments": TOOL_ARGS}
        # No warm-up: the first call pays the Rucio login, as a real session does (it lands
        # above p99 with 200 calls, nearest-rank p99 drops the top two).
        lat: list[float] = []
        paired: list[float] = []  # tool call minus the REST call made right after it
        ndids = None
        probe = RestProbe(rucio_env)
        for _ in range(calls):
            t0 = time.perf_counter()
            res = srv.request("tools/call", params)
            lat.append((time.perf_counter() - t0) * 1000)
            paired.append(lat[-1] - probe.call())
            if res.get("isError"):
                raise BenchError(f"{label}: {TOOL} returned an error: {json.dumps(res)[:500]}")
            if not lat[1:]:  # the first reply: how many DIDs it carries (both should agree)
                dids = (res.get("structuredContent") or {}).get("dids")
                ndids = len(dids) if isinstance(dids, list) else None
        hwm_kb = srv.vm_hwm_kb()
        probe.close()
    finally:
        srv.close()
    print(f"[{label}] {TOOL}: p50 {percentile(lat, 50):.2f} ms, p99 {percentile(lat, 99):.2f} ms; "
          f"VmHWM {hwm_kb / 1024:.1f} MB", file=sys.stderr)
    return {
        "tools": ntools,
        "dids_returned": ndids,
        "startup_ms": {"median": statistics.median(startup), "min": min(startup), "runs": runs},
        "peak_rss_mb": hwm_kb / 1024,
        "call_ms": {"p50": percentile(lat, 50), "p99": percentile(lat, 99), "calls": calls},
        "overhead_ms": {"p50": statistics.median(paired), "calls": calls},
    }


class RestProbe:
    """The same search as a direct REST call over one keep-alive connection: the floor both
    servers sit on. Used alone, and interleaved with each server's tool calls so that the two
    see the same server state (the local Rucio drifts by a millisecond or more over a minute)."""

    def __init__(self, env: dict[str, str]):
        url = urllib.parse.urlsplit(env["RUCIO_URL"])
        if url.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise BenchError(f"RUCIO_URL {env['RUCIO_URL']} is not a local address")
        cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        self.url = env["RUCIO_URL"]
        self.conn = cls(url.hostname, url.port, timeout=CALL_TIMEOUT)
        self.base = url.path.rstrip("/")
        headers = {
            "X-Rucio-Account": env.get("RUCIO_ACCOUNT", "root"),
            "X-Rucio-Username": env["RUCIO_USERNAME"],
            "X-Rucio-Password": env["RUCIO_PASSWORD"],
        }
        if env.get("RUCIO_VO"):
            headers["X-Rucio-VO"] = env["RUCIO_VO"]
        try:
            self.conn.request("GET", self.base + "/auth/userpass", headers=headers)
            resp = self.conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise BenchError(f"REST: {self.url}: {e}")
        token = resp.getheader("X-Rucio-Auth-Token")
        if resp.status != 200 or not token:
            raise BenchError(f"REST: userpass login failed ({resp.status} {resp.reason})")
        self.headers = {"X-Rucio-Auth-Token": token, "Accept": "application/x-json-stream"}
        self.rows = 0

    def call(self) -> float:
        try:
            t0 = time.perf_counter()
            self.conn.request("GET", self.base + REST_PATH, headers=self.headers)
            resp = self.conn.getresponse()
            body = resp.read()
            dt = (time.perf_counter() - t0) * 1000
        except (OSError, http.client.HTTPException) as e:
            raise BenchError(f"REST: {self.url}: {e}")
        if resp.status != 200:
            raise BenchError(f"REST: {REST_PATH} -> {resp.status} {body[:200]!r}")
        if not self.rows:
            self.rows = len([l for l in body.splitlines() if l.strip()])
            if self.rows == 0:
                raise BenchError(f"REST: {REST_PATH} returned no DIDs")
        return dt

    def close(self) -> None:
        self.conn.close()


def bench_rest(env: dict[str, str], calls: int) -> dict:
    probe = RestProbe(env)
    try:
        lat = [probe.call() for _ in range(calls)]
    finally:
        probe.close()
    print(f"[rest] p50 {percentile(lat, 50):.2f} ms, p99 {percentile(lat, 99):.2f} ms "
          f"({probe.rows} DIDs)", file=sys.stderr)
    return {"p50": percentile(lat, 50), "p99": percentile(lat, 99), "calls": calls, "dids": probe.rows}


def render(res: dict) -> str:
    t, o, r = res["theirs"], res["ours"], res["rest_ms"]

    def row(name, a, b, fmt, speed):
        if speed:  # lower is better: how many times faster we are
            ratio = f"{a / b:.1f}× faster" if b > 0 else "n/a"
        else:
            ratio = f"{b / a:.2f}× (ours/theirs)" if a > 0 else "n/a"
        return f"| {name} | {fmt.format(a)} | {fmt.format(b)} | {ratio} |"

    lines = [
        f"| figure | rucio-mcp 0.10.0 (Python) | ours (Rust) | ratio |",
        "|---|---:|---:|---|",
        row(f"spawn → tools/list, median of {t['startup_ms']['runs']} (ms)",
            t["startup_ms"]["median"], o["startup_ms"]["median"], "{:.1f}", True),
        row("spawn → tools/list, min (ms)", t["startup_ms"]["min"], o["startup_ms"]["min"],
            "{:.1f}", True),
        row(f"peak RSS after {o['call_ms']['calls']} calls (MB)", t["peak_rss_mb"],
            o["peak_rss_mb"], "{:.1f}", False),
        row(f"{TOOL} p50 ({o['call_ms']['calls']} calls, ms)", t["call_ms"]["p50"],
            o["call_ms"]["p50"], "{:.2f}", True),
        row(f"{TOOL} p99 (ms)", t["call_ms"]["p99"], o["call_ms"]["p99"], "{:.2f}", True),
        f"| tools listed | {t['tools']} | {o['tools']} | |",
        f"| DIDs per {TOOL} reply | {t['dids_returned']} | {o['dids_returned']} | |",
        "",
        f"REST floor (same query, one keep-alive connection, {r['calls']} calls): "
        f"p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms",
        f"Overhead over REST, median of paired differences (each tool call followed by the same "
        f"REST call): ours {o['overhead_ms']['p50']:+.2f} ms, "
        f"rucio-mcp 0.10.0 {t['overhead_ms']['p50']:+.2f} ms",
        "",
        "ratio: times faster = theirs/ours for latencies; memory = ours/theirs (lower is better).",
    ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ours", required=True, type=Path, help="our rucio-mcp binary")
    ap.add_argument("--theirs", required=True, type=Path,
                    help="the rucio-mcp executable of PyPI rucio-mcp 0.10.0 (in its venv)")
    ap.add_argument("--env", required=True, type=Path, help="env file of `cargo xtask rucio up`")
    ap.add_argument("--runs", type=int, default=20, help="spawn → tools/list runs (default 20)")
    ap.add_argument("--calls", type=int, default=200, help="tool calls / REST calls (default 200)")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    ap.add_argument("--logs", type=Path, help="directory for the servers' stderr (default: temp)")
    args = ap.parse_args()
    if args.runs < 1 or args.calls < 1:
        ap.error("--runs and --calls must be at least 1")

    env_file = read_env(args.env)
    for key in ("RUCIO_URL", "RUCIO_CLIENT_CONFIG", "RUCIO_USERNAME", "RUCIO_PASSWORD"):
        if key not in env_file:
            print(f"stdio_bench: {args.env} has no {key}", file=sys.stderr)
            return 2
    cfg = env_file["RUCIO_CLIENT_CONFIG"]
    for exe in (args.ours, args.theirs):
        if not os.access(exe, os.X_OK):
            print(f"stdio_bench: {exe} is not an executable", file=sys.stderr)
            return 2

    logdir = args.logs or Path(tempfile.mkdtemp(prefix="stdio-bench-"))
    logdir.mkdir(parents=True, exist_ok=True)
    for old in logdir.glob("*.stderr.log"):
        old.unlink()

    child_env = dict(os.environ)
    # Only what the command lines say: no stray Rucio settings from the caller's shell.
    for key in list(child_env):
        if key.startswith("RUCIO_") or key in ("X509_USER_PROXY",):
            del child_env[key]
    child_env["RUCIO_CONFIG"] = cfg
    theirs_argv = [str(args.theirs), "serve", "--rucio-cfg", cfg, "--auth-type", "userpass"]
    ours_argv = [str(args.ours), "serve", "--rucio-cfg", cfg]

    def on_signal(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        rest = bench_rest(env_file, args.calls)
        theirs = bench_server("theirs", theirs_argv, child_env, args.runs, args.calls, logdir, env_file)
        ours = bench_server("ours", ours_argv, child_env, args.runs, args.calls, logdir, env_file)
    except BenchError as e:
        print(f"stdio_bench: FAILED: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stdio_bench: interrupted", file=sys.stderr)
        return 130
    finally:
        for srv in list(Server.live):
            srv.kill()

    res = {
        "protocol_version": PROTOCOL_VERSION,
        "tool": TOOL,
        "arguments": TOOL_ARGS,
        "rucio_url": env_file["RUCIO_URL"],
        "theirs_cmd": theirs_argv,
        "ours_cmd": ours_argv,
        "theirs": theirs,
        "ours": ours,
        "rest_ms": rest,
        "ratios": {
            "startup_median_speedup": theirs["startup_ms"]["median"] / ours["startup_ms"]["median"],
            "startup_min_speedup": theirs["startup_ms"]["min"] / ours["startup_ms"]["min"],
            "peak_rss_ours_over_theirs": ours["peak_rss_mb"] / theirs["peak_rss_mb"],
            "call_p50_speedup": theirs["call_ms"]["p50"] / ours["call_ms"]["p50"],
            "call_p99_speedup": theirs["call_ms"]["p99"] / ours["call_ms"]["p99"],
        },
        "overhead_over_rest_p50_ms": {
            "ours": ours["call_ms"]["p50"] - rest["p50"],
            "theirs": theirs["call_ms"]["p50"] - rest["p50"],
        },
    }
    print(render(res))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2) + "\n")
        print(f"\nJSON: {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
