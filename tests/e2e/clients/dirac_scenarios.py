"""Drives `dirac-mcp serve` over stdio with the official Python MCP SDK against the real DiracX
of the fixture kit (tests/fixtures/diracx), as alice (NormalUser) and admin (JobAdministrator).

Usage: python dirac_scenarios.py SCENARIO
Environment: DIRAC_MCP (the dirac-mcp binary) and DIRACX_KIT_ENV (the kit's env file). Each
scenario logs its users in through the kit's real authorization-code flow into credentials files
of its own, starts the servers it needs, checks what DiracX really holds through its REST API,
and exits 0 when every assertion holds. The SDK validates every structuredContent against the
tool's outputSchema. Tokens are never printed.
"""
import asyncio
import contextlib
import datetime
import fcntl
import hashlib
import http.server
import io
import json
import os
import secrets
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request

from mcp import ClientSession, StdioServerParameters, stdio_client

from scenario_kit import call, check

BINARY = os.environ.get("DIRAC_MCP", "")
KIT_ENV = os.environ.get("DIRACX_KIT_ENV", "")
TAG = f"e2e-dirac-{os.getpid()}-{secrets.token_hex(3)}"

ALL_TOOLS = {
    "dirac_search_jobs", "dirac_get_job", "dirac_job_summary", "dirac_submit_job", "dirac_kill_jobs",
    "dirac_delete_jobs", "dirac_reschedule_jobs", "dirac_set_job_status", "dirac_list_sandboxes",
    "dirac_get_sandbox_url", "dirac_list_sites", "dirac_whoami", "dirac_get_config",
}
READ_TOOLS = {"dirac_search_jobs", "dirac_get_job", "dirac_job_summary", "dirac_list_sandboxes",
              "dirac_get_sandbox_url", "dirac_list_sites", "dirac_whoami", "dirac_get_config"}
WRITE_TOOLS = ALL_TOOLS - READ_TOOLS
READ_ONLY_HIDDEN = {"dirac_submit_job", "dirac_kill_jobs", "dirac_delete_jobs", "dirac_reschedule_jobs"}
# README of the fixture kit: alice's seeded jobs 1-6 grouped by Status.
SEED_SUMMARY = {"Done": 1, "Failed": 1, "Killed": 1, "Received": 1, "Running": 1, "Stalled": 1}
SEEDED = [{"parameter": "JobID", "operator": "lt", "value": 10}]
CATEGORIES = {"authentication", "permission_denied", "not_found", "invalid_argument", "network", "server", "read_only"}


def load_kit(path):
    values = {}
    for line in open(path):
        key, sep, value = line.rstrip("\n").partition("=")
        if not sep:
            continue
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        values[key] = value
    return values


KIT = load_kit(KIT_ENV) if KIT_ENV else {}


# ---------------------------------------------------------------- the kit: logins and REST


def login(user, path):
    """The kit's real authorization code + PKCE flow; writes a `dirac login` credentials file."""
    out = subprocess.run(
        [KIT["DIRACX_PYTHON"], os.path.join(KIT["DIRACX_LIB"], "login.py"), "--env", KIT_ENV, "code",
         "--user", user, "--credentials-out", path],
        capture_output=True, text=True, timeout=60)
    # stdout carries the tokens: only its absence of errors matters here.
    check(out.returncode == 0 and os.path.exists(path), f"login.py code --user {user} failed: {out.stderr[-2000:]}")
    return path


def rest(method, path, body=None, token=None, query=""):
    """One DiracX REST call (the admin token unless told); returns (status, headers, parsed body)."""
    url = KIT["DIRACX_URL"].rstrip("/") + path + (f"?{query}" if query else "")
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token or KIT['DIRACX_ADMIN_TOKEN']}", "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, dict(response.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw.decode(errors="replace")
        return e.code, dict(e.headers), parsed


def alice_token():
    return KIT["DIRACX_USER_TOKEN"]


def rest_search(search, parameters=None, token=None, per_page=500):
    body = {"search": search, "sort": [{"parameter": "JobID", "direction": "asc"}]}
    if parameters:
        body["parameters"] = parameters
    status, _, jobs = rest("POST", "/api/jobs/search", body, token=token, query=f"page=1&per_page={per_page}")
    check(status in (200, 206), f"REST search {search}: HTTP {status} {jobs}")
    return jobs


JOB_FIELDS = ["JobID", "JobName", "Owner", "Status", "MinorStatus", "ApplicationStatus", "Site",
              "RescheduleCounter", "LastUpdateTime"]


def rest_job(job_id):
    """Job `job_id` as DiracX holds it, read with the admin token (POST /api/jobs/search)."""
    jobs = rest_search([{"parameter": "JobID", "operator": "eq", "value": job_id}], JOB_FIELDS)
    check(len(jobs) == 1, f"REST: job {job_id} not found: {jobs}")
    return jobs[0]


def rest_submit(name, token=None):
    """Submits `/bin/echo` as alice (or the owner of `token`) through REST; returns the job id."""
    jdl = f'[ Executable = "/bin/echo"; Arguments = "{name}"; JobName = "{name}"; ]'
    status, _, inserted = rest("POST", "/api/jobs/jdl", [jdl], token=token or alice_token())
    check(status in (200, 201) and len(inserted) == 1, f"REST submit {name}: HTTP {status} {inserted}")
    return inserted[0]["JobID"]


def stamp_after(job_id):
    """A status timestamp later than every record of the job (DiracX ignores earlier ones)."""
    jobs = rest_search([{"parameter": "JobID", "operator": "eq", "value": job_id}], ["JobID", "LoggingInfo"])
    latest = max(datetime.datetime.fromisoformat(r["StatusTime"].replace("Z", "+00:00"))
                 for r in jobs[0]["LoggingInfo"])
    at = max(datetime.datetime.now(datetime.timezone.utc), latest + datetime.timedelta(microseconds=1))
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def rest_force_status(job_id, status, minor="set by the e2e tests"):
    """Moves a job to `status` as the administrator, bypassing the state machine."""
    body = {str(job_id): {stamp_after(job_id): {"Status": status, "MinorStatus": minor, "Source": "e2e"}}}
    code, _, answer = rest("PATCH", "/api/jobs/status", body, query="force=true")
    check(code == 200, f"REST force {job_id} -> {status}: HTTP {code} {answer}")
    check(rest_job(job_id)["Status"] == status, f"job {job_id} did not become {status}: {rest_job(job_id)}")


# ---------------------------------------------------------------- MCP helpers


def server_env(extra=None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DIRACX_", "DIRAC_MCP_")) and k != "X509_USER_PROXY"}
    env["DIRAC_MCP_LOG_LEVEL"] = "warning"
    env.update(extra or {})
    return env


@contextlib.asynccontextmanager
async def mcp(credentials, *flags, url=None, env=None):
    """`dirac-mcp serve --diracx-url URL --credentials-path FILE FLAGS…`, initialized and listed."""
    args = ["serve"]
    if url is not False:
        args += ["--diracx-url", url or KIT["DIRACX_URL"]]
    if credentials is not None:
        args += ["--credentials-path", credentials]
    args += list(flags)
    params = StdioServerParameters(command=BINARY, args=args, env=server_env(env))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            await session.list_tools()  # the SDK validates results against the listed output schemas
            yield session


async def ok(session, name, /, **arguments):
    result, text = await call(session, name, **arguments)
    check(not result.is_error, f"{name} failed: {text}")
    check(isinstance(result.structured_content, dict), f"{name} has no structured content")
    check(len(text) > 10, f"{name} has no text")
    return result.structured_content, text


async def error(session, name, category, /, **arguments):
    """A failed call: isError, the text `Error (<category>): … **What to do:** …` and the
    structured {"error": {category, message, hint}}."""
    allowed = (category,) if isinstance(category, str) else tuple(category)
    result, text = await call(session, name, **arguments)
    check(result.is_error, f"{name} should fail with {allowed}: {text}")
    check(any(text.startswith(f"Error ({c}): ") for c in allowed), f"{name}: expected category {allowed}, got: {text}")
    check("**What to do:**" in text, f"{name}: the error has no hint: {text}")
    err = (result.structured_content or {}).get("error") or {}
    check(err.get("category") in allowed and err.get("category") in CATEGORIES, f"{name}: structured category {err}")
    check(err.get("message") and err.get("hint"), f"{name}: structured error lacks message or hint: {err}")
    return text, err


def ids(structured, key="jobs"):
    return [j["JobID"] for j in structured[key]]


def tool_names(tools):
    return {t.name for t in tools}


# ---------------------------------------------------------------- 1. catalog and read-only


def check_catalog(tools, expected):
    names = tool_names(tools)
    check(names == expected, f"tools {sorted(names)} != {sorted(expected)}")
    for tool in tools:
        check(tool.input_schema.get("type") == "object", f"{tool.name}: inputSchema {tool.input_schema}")
        check(isinstance(tool.output_schema, dict) and tool.output_schema.get("type") == "object",
              f"{tool.name}: outputSchema {tool.output_schema}")
        check(tool.description and len(tool.description) > 30, f"{tool.name}: no description")
        a = tool.annotations
        check(a is not None, f"{tool.name}: no annotations")
        check(a.read_only_hint is (tool.name in READ_TOOLS), f"{tool.name}: readOnlyHint {a.read_only_hint}")
        if tool.name in ("dirac_kill_jobs", "dirac_delete_jobs"):
            check(a.destructive_hint is True, f"{tool.name}: destructiveHint {a.destructive_hint}")
        if tool.name in ("dirac_submit_job", "dirac_reschedule_jobs", "dirac_set_job_status"):
            check(a.destructive_hint is False, f"{tool.name}: destructiveHint {a.destructive_hint}")
        check(a.open_world_hint is True, f"{tool.name}: openWorldHint {a.open_world_hint}")
    by_name = {t.name: t for t in tools}
    if "dirac_get_job" in by_name:
        schema = by_name["dirac_get_job"].input_schema
        check("job_id" in schema.get("required", []), f"dirac_get_job requires job_id: {schema}")
    if "dirac_search_jobs" in by_name:
        props = by_name["dirac_search_jobs"].input_schema["properties"]
        for arg in ("parameter", "operator", "value", "values", "conditions", "page", "per_page", "fields"):
            check(arg in props, f"dirac_search_jobs has no argument {arg}: {sorted(props)}")


async def scenario_catalog(tmp):
    alice, admin = login("alice", f"{tmp}/alice.json"), login("admin", f"{tmp}/admin.json")
    async with mcp(alice) as s:
        check(s.initialize_result.server_info.name == "dirac-mcp", f"{s.initialize_result.server_info}")
        check("dirac_search_jobs" in (s.initialize_result.instructions or ""), "instructions explain the tools")
        check_catalog((await s.list_tools()).tools, ALL_TOOLS - {"dirac_set_job_status"})
        # Hidden for alice, and refused when called all the same.
        await error(s, "dirac_set_job_status", "permission_denied", job_ids=[1], status="Failed")
        resources = [str(r.uri) for r in (await s.list_resources()).resources]
        check(resources == ["dirac://jobs/dashboard"], f"resources {resources}")
        templates = [t.uri_template for t in (await s.list_resource_templates()).resource_templates]
        check(templates == ["dirac://jobs/{job_id}"], f"templates {templates}")
    async with mcp(admin) as s:
        check_catalog((await s.list_tools()).tools, ALL_TOOLS)
    async with mcp(alice, "--read-only") as s:
        tools = (await s.list_tools()).tools
        check_catalog(tools, ALL_TOOLS - {"dirac_set_job_status"} - READ_ONLY_HIDDEN)
        check("read-only" in (s.initialize_result.instructions or ""), "the instructions say read-only")
        for name, args in [("dirac_kill_jobs", {"job_ids": [1]}), ("dirac_delete_jobs", {"job_ids": [1]}),
                           ("dirac_reschedule_jobs", {"job_ids": [3]}),
                           ("dirac_submit_job", {"executable": "/bin/echo", "job_name": f"{TAG}-ro"})]:
            text, _ = await error(s, name, "read_only", **args)
            check("--read-only" in text, text)
        check(rest_search([{"parameter": "JobName", "operator": "eq", "value": f"{TAG}-ro"}]) == [],
              "read-only submitted nothing")
        s_, _ = await ok(s, "dirac_job_summary", conditions=SEEDED)  # reading still works
        check(s_["total"] == 6, s_)
    async with mcp(admin, "--read-only") as s:
        tools = tool_names((await s.list_tools()).tools)
        check(tools == ALL_TOOLS - READ_ONLY_HIDDEN - {"dirac_set_job_status"},
              f"read-only hides every writing tool, the administrator's too: {sorted(tools)}")
        await error(s, "dirac_set_job_status", "read_only", job_ids=[7], status="Killed")


async def scenario_offline(tmp):
    """No network before the first tool call: DIRACX_URL (the variable) names a closed port."""
    alice = login("alice", f"{tmp}/alice.json")
    port = closed_port()
    env = {"DIRACX_URL": f"http://127.0.0.1:{port}", "DIRACX_CREDENTIALS_PATH": alice}
    started = time.time()
    async with mcp(None, url=False, env=env) as s:
        elapsed = time.time() - started
        print(f"initialized and listed in {elapsed * 1000:.0f} ms")
        check(elapsed < 5, f"initialize + tools/list took {elapsed:.1f} s")
        check_catalog((await s.list_tools()).tools, ALL_TOOLS - {"dirac_set_job_status"})
        text, err = await error(s, "dirac_job_summary", "network")
        check(f"127.0.0.1:{port}" in err["message"], f"the message names the unreachable DiracX: {err}")
        check(len((await s.list_tools()).tools) == 12, "the server answers after the failure")


# ---------------------------------------------------------------- 2. every read tool


def distinct_in_order(values):
    out = []
    for v in values:
        if not out or out[-1] != v:
            out.append(v)
    return out


async def scenario_read_user(tmp):
    alice = login("alice", f"{tmp}/alice.json")
    # What DiracX itself says of alice's seeded jobs (the README's statuses are checked against it).
    truth = {j["JobID"]: j for j in rest_search(SEEDED, JOB_FIELDS, token=alice_token())}
    check(sorted(truth) == [1, 2, 3, 4, 5, 6], f"alice sees jobs 1-6 through REST: {sorted(truth)}")
    rest_counts = {}
    for j in truth.values():
        rest_counts[j["Status"]] = rest_counts.get(j["Status"], 0) + 1
    check(rest_counts == SEED_SUMMARY, f"the seed's statuses changed: {rest_counts}")
    async with mcp(alice) as s:
        # search: the flat form
        # Other tests leave failed jobs behind: sorted oldest first, the seed's job 3 leads.
        r, text = await ok(s, "dirac_search_jobs", parameter="Status", operator="eq", value="Failed", sort_order="asc")
        check(ids(r)[:1] == [3] and all(j["Status"] == "Failed" for j in r["jobs"]), r)
        check(all(j["Owner"] == "alice" for j in r["jobs"]), f"alice sees only her jobs: {r}")
        check(r["conditions"] == [{"parameter": "Status", "operator": "eq", "value": "Failed"}], r)
        check("alice_failed" in text, text)
        # `in` with values
        r, _ = await ok(s, "dirac_search_jobs", parameter="Status", operator="in", values=["Failed", "Stalled"],
                        conditions=SEEDED)
        check(sorted(ids(r)) == [3, 5] and r["total"] == 2, r)
        r, _ = await ok(s, "dirac_search_jobs", parameter="JobID", operator="in", values=["2", "4", "8"])
        check(sorted(ids(r)) == [2, 4], f"job 8 is admin's: {r}")
        # conditions as a JSON array and as a JSON string give the same
        conditions = [{"parameter": "Site", "operator": "eq", "value": "LCG.IN2P3.fr"}] + SEEDED
        a, _ = await ok(s, "dirac_search_jobs", conditions=conditions)
        b, _ = await ok(s, "dirac_search_jobs", conditions=json.dumps(conditions))
        expected = sorted(i for i, j in truth.items() if j["Site"] == "LCG.IN2P3.fr")
        check(sorted(ids(a)) == expected and expected, f"{a} != {expected}")
        check(a["jobs"] == b["jobs"] and a["total"] == b["total"], f"array {a} != string {b}")
        # fields and sort order
        r, _ = await ok(s, "dirac_search_jobs", conditions=SEEDED, fields=["JobID", "JobName"], sort_order="asc")
        check(ids(r) == [1, 2, 3, 4, 5, 6] and set(r["jobs"][0]) == {"JobID", "JobName"}, r)
        # paging
        r, text = await ok(s, "dirac_search_jobs", conditions=SEEDED, per_page=2)
        check(len(r["jobs"]) == 2 and r["next_page"] == 2 and r["total"] == 6, r)
        check(ids(r) == [6, 5], f"newest first: {r}")
        check("page=2" in text, text)
        seen = ids(r)
        page = r["next_page"]
        while page:
            r, _ = await ok(s, "dirac_search_jobs", conditions=SEEDED, per_page=2, page=page)
            check(r["total"] == 6 and r["page"] == page, r)
            seen += ids(r)
            page = r["next_page"]
        check(seen == [6, 5, 4, 3, 2, 1], f"pages cover every job once: {seen}")
        r, text = await ok(s, "dirac_search_jobs", conditions=SEEDED, per_page=2, page=4)
        check(r["jobs"] == [] and r["total"] == 6 and r["next_page"] is None, r)
        check("past the end" in text, text)
        # get_job with its history
        r, text = await ok(s, "dirac_get_job", job_id=2)
        check(r["job"]["JobID"] == 2 and r["job"]["Status"] == "Done" and r["job"]["Owner"] == "alice", r)
        statuses = distinct_in_order([h["Status"] for h in r["history"]])
        check(statuses == ["Received", "Checking", "Waiting", "Matched", "Running", "Done"], f"history {statuses}")
        check("History" in text and "alice_done" in text, text)
        await error(s, "dirac_get_job", "not_found", job_id=99999999)
        await error(s, "dirac_get_job", "invalid_argument", job_id="two")
        # summary
        r, text = await ok(s, "dirac_job_summary", conditions=SEEDED)
        got = {g["Status"]: g["count"] for g in r["groups"]}
        check(got == SEED_SUMMARY and r["total"] == 6 and r["group_by"] == ["Status"], r)
        r, _ = await ok(s, "dirac_job_summary", group_by=["Status", "Site"], parameter="JobID", operator="lt", value=10)
        check(r["total"] == 6 and all("Site" in g and "Status" in g for g in r["groups"]), r)
        check(sum(g["count"] for g in r["groups"] if g["Site"] == "LCG.IN2P3.fr") == 2, r)
        r, _ = await ok(s, "dirac_job_summary")
        check(r["total"] >= 6, r)
        # sites, identity, configuration
        r, _ = await ok(s, "dirac_list_sites")
        sites = {x["site"] for x in r["sites"]}
        check(r["source"] in ("configuration", "jobs") and {"LCG.CERN.ch", "LCG.IN2P3.fr"} <= sites, r)
        r, text = await ok(s, "dirac_whoami")
        check((r["username"], r["vo"], r["group"], r["properties"], r["job_administrator"])
              == ("alice", "testvo", "user", ["NormalUser"], False), r)
        check({g["name"] for g in r["vo_groups"]} >= {"user", "admin"}, r)
        r, _ = await ok(s, "dirac_get_config", section="Operations/testvo/JobDescription")
        check("MaxCPUTime" in r["value"] and r["section"] == "Operations/testvo/JobDescription", r)
        r, _ = await ok(s, "dirac_get_config")
        check("Operations" in r["value"] and "Registry" in r["value"], r)
        text, err = await error(s, "dirac_get_config", "not_found", section="Operations/testvo/NoSuchSection")
        check("JobDescription" in err["hint"], f"the hint lists the sections there are: {err}")
        # sandboxes of her own job (none are attached to the seed)
        r, _ = await ok(s, "dirac_list_sandboxes", job_id=2)
        check(r["job_id"] == 2 and isinstance(r["input"], list) and isinstance(r["output"], list), r)
        # argument errors never reach DiracX
        await error(s, "dirac_search_jobs", "invalid_argument", parameter="Status", operator="contains", value="x")
        await error(s, "dirac_search_jobs", "invalid_argument", value="Failed")
        await error(s, "dirac_search_jobs", "invalid_argument", conditions="not json")
        # resources
        contents = (await s.read_resource("dirac://jobs/dashboard")).contents
        check("# Jobs" in contents[0].text and "Status" in contents[0].text, contents[0].text)
        contents = (await s.read_resource("dirac://jobs/2")).contents
        job = json.loads(contents[0].text)
        check(job["job"]["JobID"] == 2 and job["job"]["Status"] == "Done" and job["history"], job)
        try:
            await s.read_resource("dirac://jobs/8")
        except Exception as e:  # a JSON-RPC error
            check("not_found" in str(e) or "no job 8" in str(e), f"reading admin's job 8: {e}")
        else:
            raise AssertionError("alice cannot read admin's job 8 as a resource")


async def scenario_read_admin(tmp):
    admin = login("admin", f"{tmp}/admin.json")
    async with mcp(admin) as s:
        r, _ = await ok(s, "dirac_whoami")
        check(r["username"] == "admin" and r["job_administrator"] is True and "JobAdministrator" in r["properties"], r)
        r, _ = await ok(s, "dirac_search_jobs", conditions=SEEDED, per_page=20, sort_order="asc")
        check(ids(r) == list(range(1, 10)) and r["total"] == 9, f"the administrator sees all 9: {r}")
        check({j["Owner"] for j in r["jobs"]} == {"alice", "admin"}, r)
        r, _ = await ok(s, "dirac_search_jobs", parameter="Owner", operator="eq", value="admin", conditions=SEEDED)
        check(sorted(ids(r)) == [7, 8, 9], r)
        r, _ = await ok(s, "dirac_get_job", job_id=8)
        check(r["job"]["Owner"] == "admin" and r["job"]["Status"] == "Done", r)
        r, _ = await ok(s, "dirac_get_job", job_id=2)
        check(r["job"]["Owner"] == "alice", f"the administrator reads alice's job too: {r}")
        r, _ = await ok(s, "dirac_job_summary", conditions=SEEDED)
        got = {g["Status"]: g["count"] for g in r["groups"]}
        check(r["total"] == 9 and got == {"Done": 2, "Failed": 2, "Killed": 1, "Received": 2, "Running": 1,
                                          "Stalled": 1}, r)
        r, _ = await ok(s, "dirac_list_sandboxes", job_id=8)
        check(r["job_id"] == 8, r)
        r, _ = await ok(s, "dirac_list_sandboxes", job_id=2, links=False)
        check(r["job_id"] == 2, r)
        r, _ = await ok(s, "dirac_list_sites")
        check(r["sites"], r)
        r, _ = await ok(s, "dirac_get_config", section="Registry/testvo/Groups")
        check("admin" in r["value"] and "user" in r["value"], r)
        contents = (await s.read_resource("dirac://jobs/8")).contents
        check(json.loads(contents[0].text)["job"]["JobID"] == 8, contents[0].text)
        contents = (await s.read_resource("dirac://jobs/dashboard")).contents
        check("# Jobs" in contents[0].text, contents[0].text)


# ---------------------------------------------------------------- 3. policy


async def scenario_policy(tmp):
    alice = login("alice", f"{tmp}/alice.json")
    before = rest_job(8)
    check(before["Owner"] == "admin", before)
    own = rest_submit(f"{TAG}-own")
    async with mcp(alice) as s:
        for name in ("dirac_kill_jobs", "dirac_delete_jobs", "dirac_reschedule_jobs"):
            _, err = await error(s, name, "permission_denied", job_ids=[8])
            check("8" in err["message"], err)
        _, err = await error(s, "dirac_list_sandboxes", "permission_denied", job_id=8)
        check("8" in err["message"], err)
        # all or nothing: her own job in the same call is not killed either
        await error(s, "dirac_kill_jobs", "permission_denied", job_ids=[own, 8])
        check(rest_job(own)["Status"] == "Received", f"job {own} must not be killed: {rest_job(own)}")
        await error(s, "dirac_get_job", "not_found", job_id=8)
        r, _ = await ok(s, "dirac_search_jobs", parameter="JobID", operator="eq", value=8)
        check(r["jobs"] == [] and r["total"] == 0, f"alice does not see job 8: {r}")
        await error(s, "dirac_set_job_status", "permission_denied", job_ids=[8], status="Killed", force=True)
        foreign = "/S3/sandboxes/testvo/admin/admin/sha256:" + "ab" * 32 + ".tar.bz2"
        _, err = await error(s, "dirac_get_sandbox_url", "permission_denied", pfn=foreign)
        check("admin" in err["message"], err)
        await error(s, "dirac_get_sandbox_url", "permission_denied", pfn="SB:SandboxSE|" + foreign)
        await error(s, "dirac_get_sandbox_url", "permission_denied", pfn="../../etc/passwd")
    after = rest_job(8)
    check(after == before, f"job 8 changed: {before} -> {after}")
    print(f"job 8 unchanged: {after['Status']} / {after['MinorStatus']}")


# ---------------------------------------------------------------- 4. submit, kill, delete, reschedule


async def scenario_lifecycle(tmp):
    alice, admin = login("alice", f"{tmp}/alice.json"), login("admin", f"{tmp}/admin.json")
    async with mcp(alice) as s:
        jdl = (f'[ Executable = "/bin/echo"; Arguments = "jdl form"; JobName = "{TAG}-jdl"; '
               f'OutputSandbox = {{"std.out", "std.err"}}; StdOutput = "std.out"; StdError = "std.err"; ]')
        r, text = await ok(s, "dirac_submit_job", jdl=jdl)
        check(len(r["job_ids"]) == 1 and r["dry_run"] is False and r["jobs"][0]["Status"] == "Received", r)
        jdl_job = r["job_ids"][0]
        check(str(jdl_job) in text, text)
        j = rest_job(jdl_job)
        check((j["JobName"], j["Owner"], j["Status"]) == (f"{TAG}-jdl", "alice", "Received"), j)

        r, _ = await ok(s, "dirac_submit_job", executable="/bin/echo", arguments="simple form", job_name=f"{TAG}-simple",
                        cpu_time=3600, output_sandbox=["result.txt"])
        simple_job = r["job_ids"][0]
        check('Executable = "/bin/echo"' in r["jdl"] and "result.txt" in r["jdl"] and "CPUTime = 3600" in r["jdl"], r)
        j = rest_job(simple_job)
        check((j["JobName"], j["Owner"], j["Status"]) == (f"{TAG}-simple", "alice", "Received"), j)

        r, text = await ok(s, "dirac_submit_job", executable="/bin/echo", arguments="dry", job_name=f"{TAG}-dry",
                           dry_run=True)
        check(r["dry_run"] is True and r["job_ids"] == [] and r["jobs"] == [] and f"{TAG}-dry" in r["jdl"], r)
        check(rest_search([{"parameter": "JobName", "operator": "eq", "value": f"{TAG}-dry"}]) == [],
              "a dry run creates no job")
        await error(s, "dirac_submit_job", "invalid_argument", jdl=jdl, executable="/bin/echo")
        await error(s, "dirac_submit_job", "invalid_argument")

        r, _ = await ok(s, "dirac_kill_jobs", job_ids=[jdl_job])
        check(r["action"] == "kill" and r["applied"] == [jdl_job], r)
        check(r["jobs"][0]["outcome"] == "applied" and r["jobs"][0]["job_id"] == jdl_job, r)
        check(rest_job(jdl_job)["Status"] == "Killed", rest_job(jdl_job))

        r, text = await ok(s, "dirac_reschedule_jobs", job_ids=[jdl_job])
        check(r["rescheduled"] == [jdl_job] and r["failed"] == [], r)
        j = rest_job(jdl_job)
        check(j["RescheduleCounter"] == 1 and j["MinorStatus"] == "Job Rescheduled", j)

        r, _ = await ok(s, "dirac_delete_jobs", job_ids=str(simple_job))  # ids as a string work too
        check(r["action"] == "delete" and r["applied"] == [simple_job], r)
        check(rest_job(simple_job)["Status"] == "Deleted", rest_job(simple_job))
        await error(s, "dirac_kill_jobs", "invalid_argument", job_ids=[])
    async with mcp(admin) as s:
        r, _ = await ok(s, "dirac_submit_job", executable="/bin/echo", arguments="admin", job_name=f"{TAG}-admin")
        admin_job = r["job_ids"][0]
        check(rest_job(admin_job)["Owner"] == "admin", rest_job(admin_job))
        # Within the state machine, Received -> Done is not allowed: ignored, not applied.
        r, _ = await ok(s, "dirac_set_job_status", job_ids=[admin_job], status="Done")
        check(r["applied"] == [] and r["jobs"][0]["outcome"] == "ignored", r)
        check(rest_job(admin_job)["Status"] == "Received", rest_job(admin_job))
        r, text = await ok(s, "dirac_set_job_status", job_ids=[admin_job], status="Failed",
                           minor_status="forced by the e2e tests", force=True)
        check(r["applied"] == [admin_job] and r["jobs"][0]["outcome"] == "applied", r)
        j = rest_job(admin_job)
        check(j["Status"] == "Failed" and j["MinorStatus"] == "forced by the e2e tests", j)
        await error(s, "dirac_set_job_status", "invalid_argument", job_ids=[admin_job], status="Exploded")


async def scenario_kill_finished(tmp):
    """Killing a job that is already Done or Killed kills nothing: reported as ignored."""
    alice = login("alice", f"{tmp}/alice.json")
    done, killed = rest_submit(f"{TAG}-done"), rest_submit(f"{TAG}-killed")
    rest_force_status(done, "Done", "Execution Complete")
    code, _, answer = rest("PATCH", "/api/jobs/status",
                           {str(killed): {stamp_after(killed): {"Status": "Killed", "MinorStatus": "by e2e", "Source": "e2e"}}},
                           token=alice_token(), query="force=false")
    check(code == 200 and rest_job(killed)["Status"] == "Killed", f"{code} {answer} {rest_job(killed)}")
    failures = []
    async with mcp(alice) as s:
        for job, status in [(done, "Done"), (killed, "Killed")]:
            r, text = await ok(s, "dirac_kill_jobs", job_ids=[job])
            entry = r["jobs"][0]
            verdict = f"kill of a {status} job {job}: applied={r['applied']} jobs={r['jobs']} text={text.strip()!r}"
            print(verdict)
            if not (r["applied"] == [] and entry["job_id"] == job and entry["outcome"] == "ignored"
                    and "No job was killed" in text):
                failures.append(verdict)
            check(rest_job(job)["Status"] == status, f"job {job} stays {status}: {rest_job(job)}")
    check(not failures, "a job already finished must be reported as not killed (applied empty, outcome "
                        "ignored):\n" + "\n".join(failures))


# ---------------------------------------------------------------- 5. sandboxes with real content


def tar_bz2(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:bz2") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def multipart_post(url, fields, filename, data):
    boundary = "----e2e" + secrets.token_hex(12)
    body = io.BytesIO()
    for key, value in fields.items():
        body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
    body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
               f"Content-Type: application/x-tar\r\n\r\n".encode())
    body.write(data)
    body.write(f"\r\n--{boundary}--\r\n".encode())
    request = urllib.request.Request(url, data=body.getvalue(), method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def download(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


async def scenario_sandbox(tmp):
    alice = login("alice", f"{tmp}/alice.json")
    job = rest_submit(f"{TAG}-sandbox")
    content = f"hello from {TAG}\n".encode()
    archive = tar_bz2({"std.out": content, "std.err": b""})
    checksum = hashlib.sha256(archive).hexdigest()
    code, _, upload = rest("POST", "/api/jobs/sandbox",
                           {"checksum_algorithm": "sha256", "checksum": checksum, "size": len(archive), "format": "tar.bz2"},
                           token=alice_token())
    check(code == 200 and upload.get("pfn"), f"sandbox upload: HTTP {code} {upload}")
    check(upload.get("url"), f"a new sandbox must be uploaded: {upload}")
    status = multipart_post(upload["url"], upload.get("fields") or {}, f"{checksum}.tar.bz2", archive)
    check(200 <= status < 300, f"S3 upload: HTTP {status}")
    pfn = upload["pfn"]
    check(f"/testvo/user/alice/sha256:{checksum}" in pfn, pfn)
    code, _, answer = rest("PATCH", f"/api/jobs/{job}/sandbox/output", pfn, token=alice_token())
    check(code == 200, f"assign the sandbox: HTTP {code} {answer}")
    async with mcp(alice) as s:
        r, text = await ok(s, "dirac_list_sandboxes", job_id=job)
        check(r["job_id"] == job and r["input"] == [] and len(r["output"]) == 1, r)
        out = r["output"][0]
        check(out["pfn"].endswith(pfn.split("|")[-1]) and out["url"] and out["error"] is None, out)
        check(out["expires_in"] and out["expires_in"] > 0, out)
        check("[download](" in text, text)
        check(download(out["url"]) == archive, "the listed link downloads the bytes uploaded")
        with tarfile.open(fileobj=io.BytesIO(download(out["url"])), mode="r:bz2") as tar:
            check(tar.extractfile("std.out").read() == content, "std.out in the archive")
        r, _ = await ok(s, "dirac_get_sandbox_url", pfn=out["pfn"])
        check(r["url"] and download(r["url"]) == archive, "a fresh link to the same archive")
        r, _ = await ok(s, "dirac_list_sandboxes", job_id=job, links=False)
        check(r["output"][0]["url"] is None and r["output"][0]["pfn"] == out["pfn"], r)


# ---------------------------------------------------------------- 6. the credentials file shared with `dirac`


def read_credentials(path):
    with open(path) as f:
        return json.load(f)


def expire_soon(path):
    """Sets expires_on to now+10 under the file's lock, leaving the rest of the JSON as it is."""
    with open(path, "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        data = json.load(f)
        data["expires_on"] = int(time.time()) + 10
        f.seek(0)
        f.truncate()
        json.dump(data, f)
        f.flush()
        fcntl.flock(f, fcntl.LOCK_UN)
    return data


def cli_env(path):
    env = server_env({"DIRACX_URL": KIT["DIRACX_URL"], "DIRACX_CREDENTIALS_PATH": path})
    return env


async def dirac_cli_whoami(path):
    """`dirac whoami` of the DiracX CLI, with the same credentials file."""
    proc = await asyncio.create_subprocess_exec(
        os.path.join(KIT["DIRACX_VENV"], "bin", "dirac"), "whoami", env=cli_env(path),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    out, err = out.decode(errors="replace"), err.decode(errors="replace")
    check(proc.returncode == 0, f"dirac whoami failed ({proc.returncode}): {out[-1500:]} {err[-1500:]}")
    check('"preferred_username": "alice"' in out, f"dirac whoami: {out[-1500:]}")
    print("dirac whoami: alice")


async def scenario_shared_credentials(tmp):
    path = login("alice", f"{tmp}/credentials.json")
    chain = [read_credentials(path)["refresh_token"]]

    def rotated(who, previous_expiry):
        now = read_credentials(path)
        check(set(now) == {"access_token", "refresh_token", "expires_on"}, f"the file keeps the CLI's format: {set(now)}")
        check(now["refresh_token"] and now["refresh_token"] not in chain,
              f"{who} must store a new refresh token (step {len(chain)})")
        check(now["expires_on"] > previous_expiry + 60 and now["expires_on"] > time.time() + 600,
              f"{who} must store a later expires_on: {previous_expiry} -> {now['expires_on']}")
        chain.append(now["refresh_token"])
        print(f"{who} refreshed the file (rotation {len(chain) - 1})")

    # dirac-mcp refreshes an expiring login under the file lock.
    expired = expire_soon(path)["expires_on"]
    async with mcp(path) as s:
        r, _ = await ok(s, "dirac_whoami")
        check(r["username"] == "alice", r)
        rotated("dirac-mcp", expired)
        # The CLI works with what dirac-mcp wrote.
        await dirac_cli_whoami(path)
        check(read_credentials(path)["refresh_token"] == chain[-1], "a fresh login is not refreshed again")
        # The reverse: the CLI refreshes, and this session still works.
        expired = expire_soon(path)["expires_on"]
        await dirac_cli_whoami(path)
        rotated("dirac whoami", expired)
        r, _ = await ok(s, "dirac_search_jobs", conditions=SEEDED)
        check(r["total"] == 6, r)
    # A new dirac-mcp must refresh with the CLI's rotated token (an old one would make DiracX revoke them all).
    expired = expire_soon(path)["expires_on"]
    async with mcp(path) as s:
        r, _ = await ok(s, "dirac_job_summary", conditions=SEEDED)
        check(r["total"] == 6, r)
        rotated("dirac-mcp (after the CLI)", expired)
    # Both at once: each takes the lock; one refreshes, the other reads what it wrote.
    async with mcp(path) as s:
        expired = expire_soon(path)["expires_on"]
        results = await asyncio.gather(dirac_cli_whoami(path), ok(s, "dirac_whoami"))
        check(results[1][0]["username"] == "alice", results[1])
        rotated("dirac whoami + dirac-mcp at once", expired)
        # Nobody reused an old refresh token: the chain still works for both, and for a last refresh.
        expired = expire_soon(path)["expires_on"]
        await dirac_cli_whoami(path)
        rotated("dirac whoami (last)", expired)
        await ok(s, "dirac_whoami")
    print(f"{len(chain) - 1} rotations, all accepted")


# ---------------------------------------------------------------- 7. no login


async def scenario_no_login(tmp):
    path = f"{tmp}/nobody/credentials.json"
    async with mcp(path) as s:
        tools = tool_names((await s.list_tools()).tools)
        check(tools == ALL_TOOLS, f"nobody signed in yet: every tool is listed: {sorted(tools)}")
        links = []
        for name, args in [("dirac_whoami", {}), ("dirac_search_jobs", {"parameter": "Status", "value": "Failed"})]:
            text, err = await error(s, name, "authentication", **args)
            # Either the way to log in in a terminal, or (since `serve` can sign the user in itself
            # with the device flow) the real DiracX link to open and its code.
            names_cli = "dirac login" in err["hint"] and "dirac-mcp login" in err["hint"]
            device = f"{KIT['DIRACX_URL'].rstrip('/')}/api/auth/device?user_code=" in err["message"]
            check(names_cli or device, f"the error says how to sign in: {err}")
            if device:
                links.append(next(w for w in err["message"].split() if w.startswith("http")))
        check(len(set(links)) <= 1, f"the second call joins the login in progress: {links}")
        check(len((await s.list_tools()).tools) == 13, "the server still answers")
        # Signing in while the server runs is enough: the next call works.
        os.makedirs(os.path.dirname(path))
        login("alice", path)
        r, _ = await ok(s, "dirac_whoami")
        check(r["username"] == "alice", r)
        r, _ = await ok(s, "dirac_job_summary", conditions=SEEDED)
        check(r["total"] == 6, r)


async def scenario_resource_errors(tmp):
    """A job resource that does not exist (or that the user may not see) is "resource not found"
    (-32002, MCP's code for it), as an unknown URI is, not an internal error (-32603)."""
    from mcp.shared.exceptions import MCPError

    alice = login("alice", f"{tmp}/alice.json")
    failures = []
    async with mcp(alice) as s:
        for uri in ["dirac://nothing/here", "dirac://jobs/99999999", "dirac://jobs/8"]:
            try:
                await s.read_resource(uri)
            except MCPError as e:
                print(f"{uri}: {e.code} {e.message[:120]!r} data={e.data}")
                if e.code != -32002:
                    failures.append(f"{uri}: JSON-RPC error {e.code} ({e.message[:80]!r}), expected -32002")
            else:
                failures.append(f"{uri}: no error")
        contents = (await s.read_resource("dirac://jobs/2")).contents
        check(json.loads(contents[0].text)["job"]["JobID"] == 2, "job 2 still reads")
    check(not failures, "\n".join(failures))


# ---------------------------------------------------------------- 8. DiracX down, slow, answering garbage


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeDiracx(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mode):
        self.mode = mode
        self.requests = 0
        super().__init__(("127.0.0.1", 0), FakeHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class FakeHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self):
        self.server.requests += 1
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        mode = self.server.mode
        if mode == "html":
            return self.reply(200, {"Content-Type": "text/html"}, b"<html>oops</html>")
        if mode == "502":
            return self.reply(502, {"Content-Type": "text/html"}, b"<html><h1>502 Bad Gateway</h1></html>")
        # slow: the real DiracX, 2 s late
        time.sleep(2)
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type", "accept", "if-none-match")}
        request = urllib.request.Request(KIT["DIRACX_URL"].rstrip("/") + self.path, data=body,
                                         method=self.command, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, rheaders, data = response.status, response.headers, response.read()
        except urllib.error.HTTPError as e:
            status, rheaders, data = e.code, e.headers, e.read()
        keep = {k: v for k, v in rheaders.items() if k.lower() in ("content-type", "content-range", "etag", "last-modified", "cache-control")}
        self.reply(status, keep, data)

    def reply(self, status, headers, data):
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = answer


async def broken_backend(alice, label, url, categories, words):
    async with mcp(alice, url=url) as s:
        started = time.time()
        text, err = await error(s, "dirac_job_summary", categories, conditions=SEEDED)
        took = time.time() - started
        check(any(w in err["message"] for w in words), f"{label}: an unclear message: {err}")
        print(f"{label}: {err['category']} after {took:.1f} s: {err['message']}")
        check(took < 15, f"{label}: the failure took {took:.1f} s")
        check(len((await s.list_tools()).tools) == 12, f"{label}: the server answers tools/list afterwards")
        await error(s, "dirac_whoami", categories)
        check(len((await s.list_tools()).tools) == 12, f"{label}: the server answers tools/list afterwards")


async def slow_backend(alice, url):
    async with mcp(alice, url=url) as s:
        started = time.time()
        r, _ = await ok(s, "dirac_job_summary", conditions=SEEDED)
        took = time.time() - started
        print(f"slow DiracX: answered in {took:.1f} s")
        check(r["total"] == 6 and took >= 2, f"slow: {r} in {took:.1f} s")
        check(len((await s.list_tools()).tools) == 12, "slow: tools/list")


NET_OR_SERVER = ("network", "server")


async def scenario_backend_failures(tmp):
    alice = login("alice", f"{tmp}/alice.json")
    html, bad_gateway, slow = FakeDiracx("html"), FakeDiracx("502"), FakeDiracx("slow")
    await asyncio.gather(
        broken_backend(alice, "closed port", f"http://127.0.0.1:{closed_port()}", NET_OR_SERVER, ["cannot connect"]),
        broken_backend(alice, "HTML 200", html.url, NET_OR_SERVER, ["not what DiracX sends"]),
        broken_backend(alice, "502", bad_gateway.url, NET_OR_SERVER, ["502"]),
        slow_backend(alice, slow.url),
    )
    check(html.requests >= 1 and bad_gateway.requests >= 1 and slow.requests >= 2,
          f"the fake servers were asked: {html.requests} {bad_gateway.requests} {slow.requests}")


# ---------------------------------------------------------------- 10. dirac-agentic's evaluation scenarios


def substitute(value, jobs, saved):
    if isinstance(value, dict):
        return {substitute(k, jobs, saved): substitute(v, jobs, saved) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, jobs, saved) for v in value]
    if isinstance(value, str):
        if value.startswith("{job:") and value.endswith("}"):
            return jobs[value[5:-1]]
        if value.startswith("{saved:") and value.endswith("}"):
            name, _, key = value[7:-1].partition(".")
            return saved[name][key]
        return value.replace("{tag}", TAG)
    return value


def judge(name, expect, result, structured, text):
    """Checks one call's outcome against the scenario's `expect`."""
    def job_list(key="jobs"):
        return [j["JobID"] for j in structured.get(key, [])]
    check(bool(result.is_error) == expect.get("is_error", False), f"{name}: isError {result.is_error}: {text}")
    if result.is_error:
        category = structured["error"]["category"]
        check(category == expect["category"], f"{name}: category {category} != {expect['category']}: {text}")
        return
    for key, want in expect.items():
        if key in ("is_error", "category"):
            continue
        if key == "jobs_include":
            missing = [i for i in want if i not in job_list()]
            check(not missing, f"{name}: jobs {missing} missing from {job_list()}")
        elif key == "jobs_exactly":
            check(sorted(job_list()) == sorted(want), f"{name}: jobs {job_list()} != {want}")
        elif key == "every_job":
            bad = [j for j in structured["jobs"] if any(j.get(k) != v for k, v in want.items())]
            check(not bad, f"{name}: jobs not matching {want}: {bad}")
        elif key == "agrees_with_rest":
            truth = [j["JobID"] for j in rest_search(structured["conditions"], ["JobID"], token=alice_token())]
            mine = job_list()
            check(sorted(mine) == sorted(truth) and structured["total"] == len(truth),
                  f"{name}: {mine} (total {structured['total']}) != DiracX's {truth}")
        elif key == "summary_at_least":
            got = {g["Status"]: g["count"] for g in structured["groups"]}
            low = {k: got.get(k, 0) for k, v in want.items() if got.get(k, 0) < v}
            check(not low, f"{name}: counts {got} below {want}")
            check(structured["total"] == sum(got.values()), f"{name}: total {structured}")
        elif key == "job":
            check(all(structured["job"].get(k) == v for k, v in want.items()), f"{name}: job {structured['job']} != {want}")
        elif key == "history_last_status":
            check(structured["history"] and structured["history"][-1]["Status"] == want, f"{name}: history {structured['history']}")
        elif key == "sandboxes_of":
            check(structured["job_id"] == want and isinstance(structured["output"], list), f"{name}: {structured}")
        elif key == "job_ids_count":
            check(len(structured["job_ids"]) == want, f"{name}: job_ids {structured['job_ids']}")
            for job in structured["job_ids"]:
                check(rest_job(job)["Owner"] == "alice", f"{name}: job {job} is alice's")
        elif key == "first_status":
            check(all(j["Status"] == want for j in structured["jobs"]), f"{name}: {structured['jobs']}")
        elif key == "dry_run":
            check(structured["dry_run"] is want, f"{name}: dry_run {structured}")
        elif key == "jdl_contains":
            missing = [w for w in want if w not in structured["jdl"]]
            check(not missing, f"{name}: the JDL lacks {missing}: {structured['jdl']}")
        elif key == "applied":
            check(structured["applied"] == want, f"{name}: applied {structured['applied']} != {want}")
        elif key == "rescheduled":
            check(structured["rescheduled"] == want, f"{name}: rescheduled {structured['rescheduled']} != {want}")
        elif key == "rest":
            for job, fields in want.items():
                now = rest_job(job)
                check(all(now.get(k) == v for k, v in fields.items()), f"{name}: DiracX has {now}, expected {fields}")
        elif key == "no_job_named":
            check(rest_search([{"parameter": "JobName", "operator": "eq", "value": want}]) == [],
                  f"{name}: a job {want!r} exists")
        else:
            raise AssertionError(f"{name}: unknown expectation {key}")


async def scenario_evals(tmp):
    import jsonschema

    alice = login("alice", f"{tmp}/alice.json")
    spec = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "dirac_agentic_evals.json")))
    scenarios = spec["scenarios"]
    check(len(scenarios) == 10, f"{len(scenarios)} scenarios")
    down = f"http://127.0.0.1:{closed_port()}"
    async with mcp(alice) as s, mcp(alice, url=down) as s_down:
        schemas = {t.name: t.input_schema for t in (await s.list_tools()).tools}
        for scenario in scenarios:
            name = scenario["name"]
            for key in ("prompt", "origin", "original_expected_calls", "calls", "expected_outcome"):
                check(scenario.get(key), f"{name}: no {key}")
            jobs = {}
            for prep in scenario.get("setup", []):
                job = rest_submit(prep["job_name"].replace("{tag}", TAG))
                if prep.get("status"):
                    rest_force_status(job, prep["status"])
                if prep.get("site"):
                    code, _, answer = rest("PATCH", "/api/jobs/metadata", {str(job): {"Site": prep["site"]}})
                    check(code in (200, 204) and rest_job(job)["Site"] == prep["site"], f"set Site: {code} {answer}")
                jobs[prep["name"]] = job
            saved = {}
            for step in scenario["calls"]:
                tool = step["tool"]
                arguments = substitute(step["arguments"], jobs, saved)
                check(tool in schemas, f"{name}: alice has no tool {tool}")
                validator = jsonschema.validators.validator_for(schemas[tool])(schemas[tool])
                problems = [e.message for e in validator.iter_errors(arguments)]
                check(not problems, f"{name}: {tool} {arguments} breaks its inputSchema: {problems}")
                session = s_down if scenario.get("diracx") == "down" else s
                result, text = await call(session, tool, **arguments)
                structured = result.structured_content or {}
                judge(f"{name}/{tool}", substitute(step["expect"], jobs, saved), result, structured, text)
                if step.get("save_as"):
                    saved[step["save_as"]] = structured
            print(f"eval {name}: ok")


# ----------------------------------------------------------------


def leaves(exc):
    """The failures inside the exception groups of the SDK's task groups."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for e in exc.exceptions for leaf in leaves(e)]
    return [exc]


async def main():
    scenario = sys.argv[1]
    check(BINARY and os.path.exists(BINARY), f"DIRAC_MCP={BINARY!r} is not the dirac-mcp binary")
    check(KIT, "DIRACX_KIT_ENV must name the DiracX kit's env file")
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="dirac-e2e-") as tmp:
        try:
            await globals()[f"scenario_{scenario}"](tmp)
        except BaseException as e:
            for leaf in leaves(e):
                print(f"FAILED ({type(leaf).__name__}): {leaf}", file=sys.stderr)
            raise
    print(f"scenario {scenario}: ok ({time.time() - started:.1f} s)")


asyncio.run(main())
