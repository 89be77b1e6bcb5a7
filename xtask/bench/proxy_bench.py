#!/usr/bin/env python3
"""proxy benchmark: `mcp-auth-proxy` (ours) side by side with `mcp-remote` 0.15.1 (Node), each a
stdio MCP server forwarding to the same remote: our `rucio-mcp` in shared-secret mode on the local
Rucio, reached with the secret as a static `Authorization` header (what a cached token amounts to:
no sign-in in the numbers).

Measured, raw JSON-RPC over the proxies' stdin/stdout (no MCP client library in the numbers):
  a. spawn -> `tools/list` reply: a fresh process each run, the clock started before the spawn
     (initialize + notifications/initialized + tools/list); median and min over --runs.
  b. `tools/call rucio_ping` --calls times through the proxy in one session, each paired with the
     same call straight to the remote over HTTP (one keep-alive connection, its own session):
     the added latency of the proxy is the median of the differences.
  c. peak RSS (VmHWM) of the proxy process after all of it.

Python standard library only. The secret comes from $PROXY_BENCH_SECRET, never from argv.
Usage (normally through `cargo xtask bench proxy`):
  proxy_bench.py --remote URL --ours target/release/mcp-auth-proxy \
      --node NODE --mcp-remote PREFIX/node_modules/mcp-remote/dist/proxy.js [--runs 20] \
      [--calls 200] [--json target/bench/proxy.json] [--logs DIR]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mcp_stdio import PROTOCOL_VERSION, BenchError, Server, percentile, spawn_to_tools_list  # noqa: E402

START_TIMEOUT = 30.0
TOOL = "rucio_ping"


class Direct:
    """One session with the remote over one keep-alive HTTP connection (the floor)."""

    def __init__(self, url: str, secret: str):
        parts = urllib.parse.urlsplit(url)
        self.path = parts.path or "/"
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=START_TIMEOUT)
        self.headers = {
            "Authorization": f"Bearer {secret}",
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        }
        self.next_id = 1
        result, session = self.post("initialize", {
            "protocolVersion": PROTOCOL_VERSION, "capabilities": {},
            "clientInfo": {"name": "xtask-bench-direct", "version": "1"}})
        if session:
            self.headers["Mcp-Session-Id"] = session
        self.headers["MCP-Protocol-Version"] = result.get("protocolVersion", PROTOCOL_VERSION)
        self.post("notifications/initialized", None, notify=True)

    def post(self, method: str, params: dict | None, notify: bool = False):
        msg = {"jsonrpc": "2.0", "method": method}
        if not notify:
            msg["id"] = self.next_id
            self.next_id += 1
        if params is not None:
            msg["params"] = params
        self.conn.request("POST", self.path, body=json.dumps(msg), headers=self.headers)
        resp = self.conn.getresponse()
        body = resp.read().decode()
        if notify:
            return None, None
        if resp.status != 200:
            raise BenchError(f"direct: {method} -> HTTP {resp.status}: {body[:200]}")
        for line in body.splitlines() if "text/event-stream" in (resp.getheader("content-type") or "") else [body]:
            data = line[5:].strip() if line.startswith("data:") else line.strip()
            if data.startswith("{"):
                reply = json.loads(data)
                if reply.get("id") == msg["id"]:
                    if "error" in reply:
                        raise BenchError(f"direct: {method} failed: {reply['error']}")
                    return reply.get("result", {}), resp.getheader("mcp-session-id")
        raise BenchError(f"direct: no answer to {method}: {body[:200]}")

    def call(self) -> float:
        t0 = time.perf_counter()
        result, _ = self.post("tools/call", {"name": TOOL, "arguments": {}})
        dt = (time.perf_counter() - t0) * 1000
        if result.get("isError"):
            raise BenchError(f"direct: {TOOL} returned an error: {json.dumps(result)[:300]}")
        return dt

    def close(self) -> None:
        self.conn.close()


def bench_proxy(label: str, argv: list[str], env: dict[str, str], runs: int, calls: int,
                logdir: Path, remote: str, secret: str) -> dict:
    stderr_path = logdir / f"proxy-{label}.stderr.log"
    shown = ' '.join(argv).replace(secret, '***')
    print(f"[{label}] {shown}  (stderr: {stderr_path})", file=sys.stderr)
    startup, _, result = spawn_to_tools_list(label, argv, env, stderr_path, runs, START_TIMEOUT)
    ntools = len(result.get("tools", []))
    print(f"[{label}] spawn -> tools/list: median {statistics.median(startup):.1f} ms, "
          f"{ntools} tools", file=sys.stderr)

    srv = Server(label, argv, env, stderr_path)
    direct = Direct(remote, secret)
    try:
        srv.initialize(START_TIMEOUT)
        srv.request("tools/list", {}, START_TIMEOUT)
        lat: list[float] = []
        paired: list[float] = []
        for _ in range(calls):
            t0 = time.perf_counter()
            res = srv.request("tools/call", {"name": TOOL, "arguments": {}})
            lat.append((time.perf_counter() - t0) * 1000)
            paired.append(lat[-1] - direct.call())
            if res.get("isError"):
                raise BenchError(f"{label}: {TOOL} returned an error: {json.dumps(res)[:300]}")
        hwm_kb = srv.vm_hwm_kb()
    finally:
        direct.close()
        srv.close()
    print(f"[{label}] {TOOL}: p50 {percentile(lat, 50):.2f} ms, added p50 "
          f"{statistics.median(paired):.2f} ms; VmHWM {hwm_kb / 1024:.1f} MB", file=sys.stderr)
    return {
        "tools": ntools,
        "startup_ms": {"median": statistics.median(startup), "min": min(startup), "runs": runs},
        "call_ms": {"p50": percentile(lat, 50), "p99": percentile(lat, 99), "calls": calls},
        "added_ms": {"p50": statistics.median(paired), "p95": percentile(paired, 95), "calls": calls},
        "peak_rss_mb": hwm_kb / 1024,
    }


def render(res: dict) -> str:
    o, t = res["ours"], res["mcp-remote"]
    rows = [
        ("spawn → tools/list, median (ms)", o["startup_ms"]["median"], t["startup_ms"]["median"], ".1f"),
        ("spawn → tools/list, min (ms)", o["startup_ms"]["min"], t["startup_ms"]["min"], ".1f"),
        (f"{TOOL} through the proxy, p50 (ms)", o["call_ms"]["p50"], t["call_ms"]["p50"], ".2f"),
        ("added by the proxy, p50 (ms)", o["added_ms"]["p50"], t["added_ms"]["p50"], ".2f"),
        ("added by the proxy, p95 (ms)", o["added_ms"]["p95"], t["added_ms"]["p95"], ".2f"),
        ("peak RSS (MB)", o["peak_rss_mb"], t["peak_rss_mb"], ".1f"),
    ]
    out = ["| | mcp-auth-proxy (ours) | mcp-remote 0.15.1 |", "|---|---|---|"]
    out += [f"| {name} | {a:{fmt}} | {b:{fmt}} |" for name, a, b, fmt in rows]
    targets = [
        ("spawn → tools/list < 20 ms", o["startup_ms"]["median"] < 20),
        ("peak RSS < 15 MB", o["peak_rss_mb"] < 15),
        ("added latency p50 < 1 ms", o["added_ms"]["p50"] < 1),
    ]
    out += ["", "| target | met |", "|---|---|"]
    out += [f"| {name} | {'yes' if ok else 'no'} |" for name, ok in targets]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--remote", required=True, help="the remote MCP endpoint (shared-secret mode)")
    ap.add_argument("--ours", required=True, type=Path)
    ap.add_argument("--node", required=True, type=Path)
    ap.add_argument("--mcp-remote", required=True, type=Path, help="mcp-remote's dist/proxy.js")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--logs", type=Path)
    args = ap.parse_args()
    secret = os.environ.get("PROXY_BENCH_SECRET")
    if not secret:
        print("PROXY_BENCH_SECRET is not set", file=sys.stderr)
        return 2
    logdir = args.logs or Path(tempfile.mkdtemp(prefix="proxy-bench-"))
    logdir.mkdir(parents=True, exist_ok=True)
    header = f"Authorization: Bearer {secret}"
    home = Path(tempfile.mkdtemp(prefix="proxy-bench-home-"))
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    proxies = {
        "ours": [str(args.ours), args.remote, "--header", header, "--no-banner", "--silent"],
        # mcp-remote: the same header; --allow-http for the loopback remote; ours checks nothing
        # it would not.
        "mcp-remote": [str(args.node), str(args.mcp_remote), args.remote, "--header", header,
                       "--allow-http", "--transport", "http-only", "--silent"],
    }
    results: dict = {"remote": args.remote}
    try:
        for label, argv in proxies.items():
            results[label] = bench_proxy(label, argv, env, args.runs, args.calls, logdir,
                                         args.remote, secret)
    except BenchError as e:
        print(f"proxy bench: {e}", file=sys.stderr)
        return 1
    finally:
        for srv in list(Server.live):
            srv.kill()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
