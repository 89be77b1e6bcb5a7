#!/usr/bin/env python3
"""proxy benchmark: `mcp-auth-proxy` (ours) side by side with `mcp-remote` 0.15.1 (Node) and
authful-mcp-proxy 0.3.0 (Python), each a stdio MCP server forwarding to the same remote: our
`rucio-mcp` in resource-server mode on the local Rucio, with the test OpenID provider
(tests/fixtures/oidc-provider/idp.mjs) as issuer. Each proxy starts with a token of that provider
obtained beforehand (a headless sign-in by `idp_token.py`, fresh for each proxy), so no sign-in is
in the numbers: ours reads it from its token cache (`--cache-dir`, the entry a sign-in would have
written), mcp-remote gets it as a static `Authorization` header, authful-mcp-proxy reads it from
its own token cache (seeded by `authful_seed.py` with the package's storage classes).

Measured, raw JSON-RPC over the proxies' stdin/stdout (no MCP client library in the numbers):
  a. spawn -> `tools/list` reply: a fresh process each run, the clock started before the spawn
     (initialize + notifications/initialized + tools/list); median and min over --runs.
  b. `tools/call rucio_ping` --calls times through the proxy in one session, each paired with the
     same call straight to the remote over HTTP (one keep-alive connection, its own session, the
     same token): the added latency of the proxy is the median of the differences.
  c. peak RSS (VmHWM) of the proxy process after all of it.

Python standard library only (authful_seed.py runs on authful-mcp-proxy's own venv). Tokens are
never printed nor put on a command line but mcp-remote's (its only way), shown masked.
Usage (normally through `cargo xtask bench proxy`):
  proxy_bench.py --remote URL --issuer URL --ours target/release/mcp-auth-proxy \
      --node NODE --mcp-remote PREFIX/node_modules/mcp-remote/dist/proxy.js \
      [--authful VENV/bin/authful-mcp-proxy --authful-python VENV/bin/python] [--runs 20] \
      [--calls 200] [--json target/bench/proxy.json] [--logs DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from idp_token import CLIENT_ID, TokenError, token_for, write_private  # noqa: E402
from mcp_stdio import PROTOCOL_VERSION, BenchError, Server, percentile, spawn_to_tools_list  # noqa: E402

START_TIMEOUT = 30.0
TOOL = "rucio_ping"
HERE = Path(__file__).resolve().parent
LABELS = {"ours": "mcp-auth-proxy (ours)", "mcp-remote": "mcp-remote 0.15.1",
          "authful-mcp-proxy": "authful-mcp-proxy 0.3.0"}


class Direct:
    """One session with the remote over one keep-alive HTTP connection (the floor)."""

    def __init__(self, url: str, token: str):
        parts = urllib.parse.urlsplit(url)
        self.path = parts.path or "/"
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=START_TIMEOUT)
        self.headers = {
            "Authorization": f"Bearer {token}",
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
                logdir: Path, remote: str, token: str) -> dict:
    stderr_path = logdir / f"proxy-{label}.stderr.log"
    shown = ' '.join(argv).replace(token, '***')
    print(f"[{label}] {shown}  (stderr: {stderr_path})", file=sys.stderr)
    startup, _, result = spawn_to_tools_list(label, argv, env, stderr_path, runs, START_TIMEOUT)
    ntools = len(result.get("tools", []))
    print(f"[{label}] spawn -> tools/list: median {statistics.median(startup):.1f} ms, "
          f"{ntools} tools", file=sys.stderr)

    srv = Server(label, argv, env, stderr_path)
    direct = Direct(remote, token)
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


def discovery(issuer: str) -> dict:
    with urllib.request.urlopen(f"{issuer.rstrip('/')}/.well-known/openid-configuration", timeout=30) as r:
        return json.load(r)


def seed_ours(cache_dir: Path, issuer: str, remote: str, tokens: dict) -> None:
    """The entry `mcp-auth-proxy` writes after a sign-in (crates/mcp-oauth-client/src/cache.rs):
    `tokens/<sha256(issuer, client, resource)[:16] hex>.json`, 0600 in a 0700 directory."""
    meta = discovery(issuer)
    keys = ["issuer", "authorization_endpoint", "token_endpoint", "registration_endpoint",
            "device_authorization_endpoint", "revocation_endpoint", "scopes_supported",
            "grant_types_supported", "code_challenge_methods_supported",
            "token_endpoint_auth_methods_supported", "authorization_response_iss_parameter_supported"]
    entry = {
        "issuer": issuer, "client_id": CLIENT_ID, "resource": remote, "backend": remote,
        "server": {k: meta[k] for k in keys if k in meta},
        "access_token": tokens["access_token"], "refresh_token": tokens.get("refresh_token"),
        "expires_at": int(time.time()) + int(tokens.get("expires_in", 300)),
        "scopes": tokens.get("scope", "").split(),
    }
    digest = hashlib.sha256()
    for part in (issuer, CLIENT_ID, remote):
        digest.update(part.rstrip("/").encode() + b"\0")
    directory = cache_dir / "tokens"
    directory.mkdir(parents=True, exist_ok=True)
    for d in (cache_dir, directory):
        d.chmod(0o700)
    write_private(str(directory / f"{digest.digest()[:16].hex()}.json"), json.dumps(entry))


def seed_authful(python: Path, home: Path, issuer: str, tokens: dict) -> None:
    """authful-mcp-proxy's default cache, `~/.mcp-auth/authful-mcp-proxy-0.3.0/`."""
    cache = home / ".mcp-auth" / "authful-mcp-proxy-0.3.0"
    done = subprocess.run(
        [str(python), str(HERE / "authful_seed.py"), "--issuer", issuer, "--cache-dir", str(cache)],
        input=json.dumps(tokens), text=True, capture_output=True, timeout=120)
    if done.returncode != 0:
        raise BenchError(f"authful_seed.py failed ({done.returncode}): {done.stderr.strip()[-800:]}")


def render(res: dict) -> str:
    present = [k for k in LABELS if isinstance(res.get(k), dict) and "startup_ms" in res[k]]
    rows = [
        ("spawn → tools/list, median (ms)", ("startup_ms", "median"), ".1f"),
        ("spawn → tools/list, min (ms)", ("startup_ms", "min"), ".1f"),
        (f"{TOOL} through the proxy, p50 (ms)", ("call_ms", "p50"), ".2f"),
        ("added by the proxy, p50 (ms)", ("added_ms", "p50"), ".2f"),
        ("added by the proxy, p95 (ms)", ("added_ms", "p95"), ".2f"),
        ("peak RSS (MB)", ("peak_rss_mb",), ".1f"),
    ]

    def get(label: str, path: tuple) -> float:
        v = res[label]
        for key in path:
            v = v[key]
        return v

    out = [f"Machine: {res.get('cpus')} CPUs, load average at start {res.get('loadavg_at_start')}.", "",
           "| | " + " | ".join(LABELS[k] for k in present) + " |",
           "|---|" + "---|" * len(present)]
    for name, path, fmt in rows:
        out.append(f"| {name} | " + " | ".join(f"{get(k, path):{fmt}}" for k in present) + " |")
    for k in LABELS:
        if k not in present:
            reason = res.get(k, {}).get("error", "not run") if isinstance(res.get(k), dict) else "not run"
            out.append(f"\n{LABELS[k]}: not measured: {reason}")
    o = res.get("ours", {})
    if "startup_ms" in o:
        targets = [
            ("spawn → tools/list with a cached token < 20 ms", o["startup_ms"]["median"] < 20),
            ("peak RSS < 15 MB", o["peak_rss_mb"] < 15),
            ("added latency p50 < 1 ms", o["added_ms"]["p50"] < 1),
        ]
        out += ["", "| target (ours) | met |", "|---|---|"]
        out += [f"| {name} | {'yes' if ok else 'no'} |" for name, ok in targets]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--remote", required=True, help="the remote MCP endpoint (resource-server mode)")
    ap.add_argument("--issuer", required=True, help="the test OpenID provider the remote trusts")
    ap.add_argument("--ours", required=True, type=Path)
    ap.add_argument("--node", required=True, type=Path)
    ap.add_argument("--mcp-remote", required=True, type=Path, help="mcp-remote's dist/proxy.js")
    ap.add_argument("--authful", type=Path, help="authful-mcp-proxy's executable in its venv")
    ap.add_argument("--authful-python", type=Path, help="the Python of that venv")
    ap.add_argument("--authful-missing", help="why authful-mcp-proxy is not there (recorded)")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--logs", type=Path)
    args = ap.parse_args()
    logdir = args.logs or Path(tempfile.mkdtemp(prefix="proxy-bench-"))
    logdir.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="proxy-bench-home-"))
    home.chmod(0o700)
    # No browser may open: a proxy that wants a sign-in fails instead of waiting for a person.
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "BROWSER": "false"}
    for key in ("MCP_BACKEND_URL", "OIDC_ISSUER_URL", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET",
                "OIDC_SCOPES", "OIDC_REDIRECT_URL", "MCP_AUTH_PROXY_CACHE_DIR", "MCP_PROXY_DEBUG"):
        env.pop(key, None)
    results: dict = {"remote": args.remote, "remote_mode": "resource-server (test IdP as issuer)",
                     "token": "a JWT (RS256) of the test IdP for the remote, fresh for each proxy",
                     "cpus": os.cpu_count(),
                     "loadavg_at_start": Path("/proc/loadavg").read_text().strip()}

    def ours(tokens: dict) -> list[str]:
        cache = home / "mcp-auth-proxy-cache"
        seed_ours(cache, args.issuer, args.remote, tokens)
        return [str(args.ours), args.remote, "--cache-dir", str(cache), "--no-banner", "--silent"]

    def mcp_remote(tokens: dict) -> list[str]:
        # --allow-http for the loopback remote; ours checks nothing it would not.
        return [str(args.node), str(args.mcp_remote), args.remote, "--header",
                f"Authorization: Bearer {tokens['access_token']}", "--allow-http",
                "--transport", "http-only", "--silent"]

    def authful(tokens: dict) -> list[str]:
        if not (args.authful and args.authful_python):
            raise BenchError(args.authful_missing or "not installed")
        seed_authful(args.authful_python, home, args.issuer, tokens)
        return [str(args.authful), args.remote, "--oidc-issuer-url", args.issuer,
                "--oidc-client-id", CLIENT_ID, "--no-banner", "--silent"]

    status = 0
    try:
        for label, setup in (("ours", ours), ("mcp-remote", mcp_remote), ("authful-mcp-proxy", authful)):
            tokens: dict = {}
            try:
                tokens = token_for(args.issuer, args.remote)
                argv = setup(tokens)
                results[label] = bench_proxy(label, argv, env, args.runs, args.calls, logdir,
                                             args.remote, tokens["access_token"])
            except (BenchError, TokenError, OSError, subprocess.SubprocessError) as e:
                message = str(e)
                for secret in (tokens.get("access_token"), tokens.get("refresh_token"),
                               tokens.get("id_token")):
                    if secret:
                        message = message.replace(secret, "***")
                print(f"proxy bench: {label}: {message}", file=sys.stderr)
                results[label] = {"error": message}
                if label == "ours":
                    status = 1
            finally:
                for srv in list(Server.live):
                    srv.kill()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    print(render(results))
    return status


if __name__ == "__main__":
    sys.exit(main())
