"""What the stdio benchmarks share: a deadline-bound JSON-RPC client for an MCP server child
process over its stdin/stdout, the kit env-file reader and the percentile helpers.

Python 3.11 standard library only; imported by stdio_bench.py and dirac_bench.py.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import time
from pathlib import Path

PROTOCOL_VERSION = "2025-11-25"
CALL_TIMEOUT = 30.0  # one request -> its reply


class BenchError(Exception):
    pass


def read_env(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil(n * p / 100)
    return ordered[int(rank) - 1]


def dist(values: list[float]) -> dict:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95),
            "min": min(values), "max": max(values), "n": len(values)}


class Server:
    """One MCP server child process spoken to over stdio with deadlines on every read."""

    live: list["Server"] = []

    def __init__(self, label: str, argv: list[str], env: dict[str, str], stderr_path: Path):
        self.label = label
        self.stderr_path = stderr_path
        self.stderr = open(stderr_path, "ab")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env=env,
            start_new_session=True,  # its own process group: we can kill it and its children
        )
        Server.live.append(self)
        self.buf = b""
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.next_id = 1
        self.last_reply_bytes = 0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, msg: dict) -> None:
        data = json.dumps(msg, separators=(",", ":")).encode() + b"\n"
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise BenchError(f"{self.label}: cannot write to the server ({e}); {self.hint()}")

    def read_line(self, deadline: float) -> bytes:
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"{self.label}: no reply in time; {self.hint()}")
            if not self.sel.select(timeout=left):
                continue
            chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
            if not chunk:
                raise BenchError(f"{self.label}: the server closed stdout; {self.hint()}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def request(self, method: str, params: dict | None, timeout: float = CALL_TIMEOUT) -> dict:
        rid = self.next_id
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        deadline = time.monotonic() + timeout
        while True:
            line = self.read_line(deadline).strip()
            if not line:
                continue
            try:
                reply = json.loads(line)
            except json.JSONDecodeError:
                raise BenchError(f"{self.label}: not JSON on stdout: {line[:200]!r}")
            if reply.get("id") != rid:
                continue  # a notification (log, progress) or a server->client request
            if "error" in reply:
                raise BenchError(f"{self.label}: {method} failed: {reply['error']}")
            self.last_reply_bytes = len(line)
            return reply.get("result", {})

    def notify(self, method: str) -> None:
        self.send({"jsonrpc": "2.0", "method": method})

    def initialize(self, timeout: float) -> dict:
        result = self.request(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "xtask-bench", "version": "1"},
            },
            timeout,
        )
        self.notify("notifications/initialized")
        return result

    def vm_hwm_kb(self) -> int:
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError as e:
            raise BenchError(f"{self.label}: cannot read /proc/{self.pid}/status: {e}")
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise BenchError(f"{self.label}: no VmHWM in /proc/{self.pid}/status")

    def hint(self) -> str:
        code = self.proc.poll()
        state = "still running" if code is None else f"exited with {code}"
        tail = ""
        try:
            self.stderr.flush()
            tail = self.stderr_path.read_text(errors="replace")[-1500:].strip()
        except OSError:
            pass
        return f"server {state}; stderr ({self.stderr_path}):\n{tail or '(empty)'}"

    def close(self, timeout: float = 5.0) -> None:
        """Close stdin (the MCP way to stop a stdio server), then escalate to signals."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(2.0)
                    break
                except subprocess.TimeoutExpired:
                    continue
        else:
            # The server exited; make sure nothing it spawned in its group lingers.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                if f:
                    f.close()
            except OSError:
                pass
        try:
            self.sel.close()
        except Exception:
            pass
        self.stderr.close()
        if self in Server.live:
            Server.live.remove(self)


def spawn_to_tools_list(label: str, argv: list[str], env: dict[str, str], stderr_path: Path,
                        runs: int, timeout: float) -> tuple[list[float], dict, dict]:
    """`runs` fresh processes, each timed from before its spawn to the `tools/list` reply
    (initialize + notifications/initialized + tools/list): the times in ms, and the last
    `initialize` and `tools/list` results."""
    startup: list[float] = []
    init: dict = {}
    result: dict = {}
    for _ in range(runs):
        t0 = time.perf_counter()
        srv = Server(label, argv, env, stderr_path)
        try:
            init = srv.initialize(timeout)
            result = srv.request("tools/list", {}, timeout - (time.perf_counter() - t0))
            startup.append((time.perf_counter() - t0) * 1000)
        finally:
            srv.close()
    return startup, init, result
