"""dirac-mcp signing a user in from a tool call, submitting local input files, and the LHCb build
of dirac-mcp, through the Python MCP SDK against the real DiracX.

Usage: dirac_login_scenarios.py SCENARIO -- SERVER_COMMAND...
Env: DIRACX_ENV (the kit's env file), CREDENTIALS (the credentials file the server uses).
"""
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from mcp import ClientSession, StdioServerParameters, stdio_client, types

from scenario_kit import call, check

KIT = {}
for line in Path(os.environ["DIRACX_ENV"]).read_text().splitlines():
    if "=" in line:
        key, value = line.split("=", 1)
        KIT[key] = value[1:-1] if value[:1] == "'" and value[-1:] == "'" else value
CREDENTIALS = Path(os.environ["CREDENTIALS"])
ELICITED = []


def browse(url, user="alice"):
    """Plays the user's browser for a login link (the kit's mock IdP signs `user` in)."""
    subprocess.run(
        [KIT["DIRACX_PYTHON"], f"{KIT['DIRACX_LIB']}/login.py", "--env", os.environ["DIRACX_ENV"], "browse", url, "--user", user],
        check=True, capture_output=True, timeout=60,
    )


async def elicitation_callback(context, params):
    ELICITED.append(params.url)
    browse(params.url)
    return types.ElicitResult(action="accept")


async def scenario_elicitation(session):
    check(not CREDENTIALS.exists(), "no login before the first call")
    result, text = await call(session, "dirac_whoami")
    check(not result.is_error, f"the call ran after the login: {text}")
    check(len(ELICITED) == 1 and "/api/auth/device" in ELICITED[0], f"the login link came by URL elicitation: {ELICITED}")
    check(result.structured_content["username"] == "alice", f"signed in as alice: {result.structured_content}")
    check(CREDENTIALS.exists() and oct(CREDENTIALS.stat().st_mode & 0o777) == "0o600", "the login was kept, 0600")
    saved = json.loads(CREDENTIALS.read_text())
    check({"access_token", "refresh_token", "expires_on"} <= saved.keys(), f"in the dirac CLI's format: {sorted(saved)}")
    # The next call needs no login.
    result, _ = await call(session, "dirac_job_summary")
    check(not result.is_error and len(ELICITED) == 1, "no second login")


async def scenario_link(session):
    result, text = await call(session, "dirac_job_summary")
    check(result.is_error, "without elicitation the first call answers with the link")
    check(result.structured_content["error"]["category"] == "authentication", f"an authentication error: {text}")
    url = text.split("open ", 1)[1].split(" ", 1)[0]
    check(url.startswith(KIT["DIRACX_URL"]) and "user_code=" in url, f"the link is DiracX's device page: {url}")
    browse(url)
    deadline = time.time() + 30
    while True:
        result, text = await call(session, "dirac_job_summary")
        if not result.is_error or time.time() > deadline:
            break
        await asyncio.sleep(1)
    check(not result.is_error, f"after the user signed in, the same call works: {text}")


async def scenario_lhcb(session):
    tools = {t.name: t for t in (await session.list_tools()).tools}
    check("lhcb_production_progress" in tools and "dirac_search_jobs" in tools, f"the LHCb build has both tool sets: {sorted(tools)}")
    group = f"{os.getpid() % 100000000:08d}"
    jdl = f'[Executable = "/bin/true"; JobName = "lhcb_{group}"; JobGroup = "{group}";]'
    result, text = await call(session, "dirac_submit_job", jdl=jdl)
    check(not result.is_error, f"submitted into production {group}: {text}")
    job = result.structured_content["job_ids"][0]
    result, text = await call(session, "lhcb_production_progress", production=int(group))
    check(not result.is_error, text)
    progress = result.structured_content
    check(progress["job_group"] == group and progress["total"] == 1, f"one job in production {group}: {progress}")
    check(progress["by_status"][0]["Status"] == "Received", f"by status: {progress['by_status']}")
    result, text = await call(session, "lhcb_failed_jobs_report", job_group=group)
    check(not result.is_error and result.structured_content["total"] == 0, f"no failed job yet: {text}")
    result, text = await call(session, "lhcb_production_progress", production="12a")
    check(result.is_error and result.structured_content["error"]["category"] == "invalid_argument", text)
    result, _ = await call(session, "dirac_kill_jobs", job_ids=[job])
    check(result.structured_content["applied"] == [job], "the built-in tools work beside the extension")


async def scenario_input_files(session):
    import io
    import tarfile
    import tempfile
    import urllib.request
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp, "analyse.sh")
        script.write_text("#!/bin/sh\ncat data.txt\n")
        data = Path(tmp, "data.txt")
        data.write_text(f"events of {os.getpid()}\n")
        result, text = await call(session, "dirac_submit_job", executable="analyse.sh", input_files=[str(script), str(data)], dry_run=True)
        check(not result.is_error and "uploaded at submission: analyse.sh, data.txt" in result.structured_content["jdl"], text)
        result, text = await call(session, "dirac_submit_job", executable="analyse.sh", input_files=f"{script}, {data}", job_name=f"input_files_{os.getpid()}")
        check(not result.is_error, text)
        pfn = result.structured_content["input_sandbox"]
        check(pfn.startswith("SB:") and f'InputSandbox = {{"{pfn}"}}' in result.structured_content["jdl"], result.structured_content)
        result, text = await call(session, "dirac_get_sandbox_url", pfn=pfn)
        check(not result.is_error, text)
        archive = urllib.request.urlopen(result.structured_content["url"], timeout=30).read()
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:bz2") as tar:
            got = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
        check(got == {"analyse.sh": script.read_bytes(), "data.txt": data.read_bytes()}, f"the sandbox holds the files: {sorted(got)}")
        result, text = await call(session, "dirac_submit_job", executable="x", input_files=[tmp])
        check(result.is_error and result.structured_content["error"]["category"] == "invalid_argument", f"a directory is refused: {text}")


async def main():
    scenario, command = sys.argv[1], sys.argv[3:]
    server = StdioServerParameters(command=command[0], args=command[1:], env=dict(os.environ))
    kwargs = {"elicitation_callback": elicitation_callback} if scenario == "elicitation" else {}
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write, **kwargs) as session:
            await session.initialize()
            await {
                "elicitation": scenario_elicitation,
                "link": scenario_link,
                "lhcb": scenario_lhcb,
                "input_files": scenario_input_files,
            }[scenario](session)
    print(f"scenario {scenario}: ok")


asyncio.run(main())
