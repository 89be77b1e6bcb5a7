"""Drives `rucio-mcp serve` over stdio with the official Python MCP SDK, as an MCP client would.

Usage: python stdio_scenarios.py SCENARIO -- SERVER_COMMAND...
Scenarios read their inputs from environment variables (set by the Rust tests in tests/e2e) and
assert on what the server answers; the SDK itself validates every structuredContent against the
tool's outputSchema. Exit 0 when every assertion holds.
"""
import asyncio
import json
import os
import subprocess
import sys
import time

from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp import types

from scenario_kit import call, check

WRITE_TOOLS = {"rucio_add_rule", "rucio_delete_rule", "rucio_update_rule", "rucio_reduce_rule",
               "rucio_move_rule", "rucio_approve_rule", "rucio_deny_rule"}


def strip_texts(value):
    if isinstance(value, dict):
        return {k: strip_texts(v) for k, v in value.items() if k not in ("description", "title")}
    if isinstance(value, list):
        return [strip_texts(v) for v in value]
    return value




async def ok(session, name, /, **arguments):
    result, text = await call(session, name, **arguments)
    check(not result.is_error, f"{name} failed: {text}")
    check(isinstance(result.structured_content, dict), f"{name} has no structured content")
    check(len(text) > 10, f"{name} has no text")
    return result.structured_content, text


async def error(session, name, category, /, **arguments):
    result, text = await call(session, name, **arguments)
    check(result.is_error, f"{name} should fail with {category}: {text}")
    check(f"Error ({category})" in text, f"{name}: expected category {category}, got: {text}")
    return text


async def scenario_catalog(session):
    tools = (await session.list_tools()).tools
    reference = json.load(open(os.environ["REFERENCE_JSON"]))["modes"]["stdio:escape"]["tools"]
    read_only = os.environ.get("READ_ONLY") == "1"
    expected = [t for t in reference if not (read_only and t["name"] in WRITE_TOOLS)]
    check(len(tools) == len(expected), f"{len(tools)} tools listed, expected {len(expected)}")
    by_name = {t.name: t for t in tools}
    for ref in expected:
        tool = by_name.get(ref["name"])
        check(tool is not None, f"{ref['name']} missing")
        check(strip_texts(tool.input_schema) == ref["inputSchema"], f"{ref['name']}: input schema differs")
        out = strip_texts(tool.output_schema)
        out.get("properties", {}).pop("next_offset", None)
        check(out == ref["outputSchema"], f"{ref['name']}: output schema differs")
        annotations = tool.annotations.model_dump(by_alias=True, exclude_none=True)
        annotations.pop("title", None)
        check(annotations == ref["annotations"], f"{ref['name']}: annotations {annotations} != {ref['annotations']}")
        check(tool.description and len(tool.description) > 40, f"{ref['name']}: no description")
    init = session.initialize_result
    check(init.server_info.name == "rucio-mcp", f"serverInfo {init.server_info}")
    check("rucio_list_dids" in (init.instructions or ""), "instructions should explain the tools")
    if read_only:
        text = await error(session, "rucio_add_rule", "read_only", dids="test:file_1.txt", copies=1, rse_expression="MOCK-POSIX2")
        check("--read-only" in text, text)
    resources = (await session.list_resources()).resources
    if os.environ.get("EXPECT_NOMENCLATURE") == "1":
        check([str(r.uri) for r in resources] == ["rucio://nomenclature"], f"resources {resources}")
        contents = (await session.read_resource("rucio://nomenclature")).contents
        check("DAOD_PHYSLITE" in contents[0].text, "the nomenclature explains ATLAS formats")
    else:
        check(resources == [], f"no resources outside atlas: {resources}")


async def scenario_read(session):
    seed = json.load(open(os.environ["RUCIO_SEED_JSON"]))
    ok_rule = seed["rules"]["data24.run00001.DAOD@MOCK-POSIX"]
    s, _ = await ok(session, "rucio_ping")
    check(s["version"] == os.environ["RUCIO_VERSION"], s)
    s, _ = await ok(session, "rucio_whoami")
    check(s["account"] == "root" and s["type"] == "SERVICE", s)
    s, text = await ok(session, "rucio_list_dids", did_pattern="data24:data24.run*", did_type="dataset")
    check(s["dids"] == ["data24:data24.run00001.DAOD", "data24:data24.run00002.DAOD"], s)
    check(s["truncated"] is False and s["next_offset"] is None, s)
    s, text = await ok(session, "rucio_get_did", did="data24:data24.run00001.DAOD")
    check((s["type"], s["bytes"], s["length"], s["open"]) == ("DATASET", 6003, 3, False), s)
    check("5.86 KB" in text and "6003" in text, "bytes are human-readable in the text and exact in the structure")
    s, _ = await ok(session, "rucio_list_content", did="data24:data24.physics_Main.DAOD")
    check(sorted(c["name"] for c in s["content"]) == ["data24.run00001.DAOD", "data24.run00002.DAOD"], s)
    s, _ = await ok(session, "rucio_list_files", did="data24:data24.run00001.DAOD")
    check(len(s["files"]) == 3 and s["files"][0]["events"] == 10, s)
    s, _ = await ok(session, "rucio_get_metadata", did="data24:data24.run00002.DAOD")
    check(s["metadata"]["run_number"] == 2 and s["metadata"]["datatype"] == "DAOD", s)
    s, _ = await ok(session, "rucio_list_parent_dids", did="data24:data24.run00001.DAOD._000001.root")
    check(s["parents"][0]["name"] == "data24.run00001.DAOD", s)
    s, _ = await ok(session, "rucio_list_replicas", dids="data24:data24.run00001.DAOD")
    check(len(s["replicas"]) == 3 and all("MOCK-POSIX" in r["rses"] for r in s["replicas"]), s)
    s, _ = await ok(session, "rucio_list_replicas", dids="test:file_1.txt,test:file_2.txt", all_states=True, rse_expression="MOCK-POSIX")
    check(len(s["replicas"]) == 2, s)
    s, _ = await ok(session, "rucio_list_dataset_replicas", did="data24:data24.run00001.DAOD", deep=True)
    check(s["replicas"][0]["rse"] == "MOCK-POSIX" and s["replicas"][0]["available_length"] == 3, s)
    s, _ = await ok(session, "rucio_list_container_replicas", did="data24:data24.physics_Main.DAOD", deep=True)
    check({r["name"] for r in s["replicas"]} == {"data24.run00001.DAOD", "data24.run00002.DAOD"}, s)
    s, _ = await ok(session, "rucio_list_scopes")
    check(sorted(s["scopes"]) == ["data24", "test", "user.jdoe"], s)
    s, _ = await ok(session, "rucio_list_scopes", pattern="user.*")
    check(s["scopes"] == ["user.jdoe"], s)
    s, _ = await ok(session, "rucio_list_scopes_for_account", account="jdoe")
    check(s["scopes"] == ["user.jdoe"] and s["account"] == "jdoe", s)
    s, _ = await ok(session, "rucio_list_rses", rse_expression="tier=1")
    check(s["rses"] == ["MOCK-POSIX"], s)
    s, _ = await ok(session, "rucio_list_rse_attributes", rse="MOCK-POSIX")
    check(s["attributes"]["tier"] == "1", s)
    s, _ = await ok(session, "rucio_get_rse_usage", rse="MOCK-POSIX")
    check(any(u["source"] == "storage" and u["used"] == 1073741824 for u in s["usage"]), s)
    s, _ = await ok(session, "rucio_get_rse", rse="MOCK-POSIX2")
    check(s["details"]["rse_type"] == "DISK", s)
    s, _ = await ok(session, "rucio_get_rse_limits", rse="MOCK-POSIX")
    check(s["limits"]["MinFreeSpace"] == 10485760, s)
    s, _ = await ok(session, "rucio_get_rse_protocols", rse="MOCK-POSIX")
    check(s["protocols"][0]["scheme"] == "file", s)
    s, _ = await ok(session, "rucio_get_distance", source="MOCK-POSIX", destination="MOCK-POSIX2")
    check(s["distances"][0]["distance"] == 1, s)
    s, _ = await ok(session, "rucio_list_transfer_limits")
    check(s["limits"] == [], s)
    s, _ = await ok(session, "rucio_list_did_rules", did="data24:data24.run00001.DAOD")
    check(any(r["id"] == ok_rule for r in s["rules"]), s)
    s, _ = await ok(session, "rucio_get_replication_rule", rule_id=ok_rule)
    check((s["state"], s["locks_ok_cnt"], s["rse_expression"]) == ("OK", 3, "MOCK-POSIX"), s)
    s, _ = await ok(session, "rucio_list_rule_history", did="data24:data24.run00001.DAOD")
    check(any(h["rule_id"] == ok_rule for h in s["history"]), s)
    s, _ = await ok(session, "rucio_list_replication_rules", scope="data24", account="root")
    check(len(s["rules"]) >= 2, s)
    s, _ = await ok(session, "rucio_get_local_account_usage", account="root")
    check(all(u["bytes"] > 0 for u in s["usage"]), s)
    s, _ = await ok(session, "rucio_get_local_account_usage", account="jdoe", hide_zero=False)
    check(len(s["usage"]) >= 1, s)
    s, _ = await ok(session, "rucio_get_local_account_limits", account="jdoe")
    check(s["limits"]["MOCK-POSIX"] == 1099511627776, s)
    s, _ = await ok(session, "rucio_get_local_account_limits", account="root", rse_expression="MOCK-POSIX2")
    check(list(s["limits"]) == ["MOCK-POSIX2"], s)
    s, _ = await ok(session, "rucio_list_accounts", account_type="USER")
    check([a["account"] for a in s["accounts"]] == ["jdoe"], s)
    s, _ = await ok(session, "rucio_get_account", account="jdoe")
    check(s["email"] == "jdoe@example.org", s)
    s, _ = await ok(session, "rucio_get_account")
    check(s["account"] == "root", "an empty account means the signed-in one")
    s, _ = await ok(session, "rucio_list_account_rules")
    check(len(s["rules"]) >= 3, s)
    s, _ = await ok(session, "rucio_get_dataset_locks", did="data24:data24.run00001.DAOD")
    check(s["locks"][0]["rule_id"] == ok_rule, s)
    s, _ = await ok(session, "rucio_get_dataset_locks_by_rse", rse="MOCK-POSIX")
    check(any(l["name"] == "data24.run00001.DAOD" for l in s["locks"]), s)
    s, _ = await ok(session, "rucio_list_requests", src_rse="MOCK-POSIX", dst_rse="MOCK-POSIX2", request_states="Q,S")
    check(isinstance(s["requests"], list), s)
    s, _ = await ok(session, "rucio_list_requests_history", src_rse="MOCK-POSIX", dst_rse="MOCK-POSIX2", request_states="D,F")
    check(s["requests"] == [], s)
    s, _ = await ok(session, "rucio_list_subscriptions", account="root")
    check(s["subscriptions"][0]["name"] == seed["subscription"]["name"], s)
    s, _ = await ok(session, "rucio_list_subscription_rules", account="root", name=seed["subscription"]["name"])
    check(s["rules"] == [], s)


async def scenario_paging(session):
    everything, _ = await ok(session, "rucio_list_dids", did_pattern="data24:*", did_type="all", limit=100)
    check(len(everything["dids"]) == 9 and not everything["truncated"], everything)
    collected, offset = [], 0
    while True:
        page, text = await ok(session, "rucio_list_dids", did_pattern="data24:*", did_type="all", limit=4, offset=offset)
        collected += page["dids"]
        if not page["truncated"]:
            check(page["next_offset"] is None, page)
            break
        check(page["next_offset"] == offset + 4 and f"offset={offset + 4}" in text, page)
        offset = page["next_offset"]
    check(collected == everything["dids"], f"{collected} != {everything['dids']}")
    s, _ = await ok(session, "rucio_list_files", did="data24:data24.physics_Main.DAOD", limit=5, offset=5)
    check(len(s["files"]) == 1 and not s["truncated"], s)


async def scenario_errors(session):
    await error(session, "rucio_get_did", "did_not_found", did="data24:no.such.thing")
    await error(session, "rucio_get_rse", "rse_not_found", rse="NO-SUCH-RSE")
    await error(session, "rucio_list_rses", "rse_not_found", rse_expression="tier=99")
    await error(session, "rucio_get_replication_rule", "rule_not_found", rule_id="0" * 32)
    text = await error(session, "rucio_get_did", "invalid_argument", did="a:b:c")
    check("scope:name" in text, "a bad DID says what a good one looks like")
    await error(session, "rucio_get_replication_rule", "invalid_argument", rule_id="not-a-rule")
    await error(session, "rucio_list_dids", "invalid_argument", did_pattern="no_scope_here")
    await error(session, "rucio_list_dids", "invalid_argument", did_pattern="data24:*", limit=0)
    await error(session, "rucio_list_dids", "invalid_argument", did_pattern="data24:*", did_type="everything")
    await error(session, "rucio_list_files", "invalid_argument", did="data24:x", limit="ten")
    await error(session, "rucio_get_did", "invalid_argument")
    try:
        await session.call_tool("rucio_no_such_tool", {})
        raise AssertionError("an unknown tool must be a protocol error")
    except Exception as e:  # the SDK raises on a JSON-RPC error
        check("rucio_no_such_tool" in str(e), str(e))
    # The session survives all of this.
    await ok(session, "rucio_whoami")


async def scenario_rules(session):
    life, reduce_did, approve_did, deny_did = (os.environ[k] for k in ("FILE_LIFE", "FILE_REDUCE", "FILE_APPROVE", "FILE_DENY"))
    s, _ = await ok(session, "rucio_add_rule", dids=life, copies=1, rse_expression="MOCK-POSIX2", lifetime=3600, comment="e2e")
    check(s["dids"] == [life] and len(s["rule_ids"]) == 1, s)
    rule = s["rule_ids"][0]
    await error(session, "rucio_add_rule", "duplicate_rule", dids=life, copies=1, rse_expression="MOCK-POSIX2", lifetime=3600, comment="e2e")
    s, _ = await ok(session, "rucio_update_rule", rule_id=rule, locked=True, comment="locked by e2e")
    check(s["updated"] and s["updated_fields"] == {"locked": True, "comment": "locked by e2e"}, s)
    s, _ = await ok(session, "rucio_get_replication_rule", rule_id=rule)
    check(s["state"] == "REPLICATING", s)
    await error(session, "rucio_update_rule", "invalid_argument", rule_id=rule)
    await ok(session, "rucio_update_rule", rule_id=rule, locked=False)
    s, _ = await ok(session, "rucio_move_rule", rule_id=rule, rse_expression="MOCK-POSIX")
    moved = s["new_rule_id"]
    check(moved and moved != rule, s)
    s, _ = await ok(session, "rucio_delete_rule", rule_id=moved)
    check(s["deleted"] is True, s)
    s, _ = await ok(session, "rucio_add_rule", dids=reduce_did, copies=2, rse_expression="MOCK-POSIX|MOCK-POSIX2")
    s, _ = await ok(session, "rucio_reduce_rule", rule_id=s["rule_ids"][0], copies=1, exclude_expression="MOCK-POSIX2")
    check(len(s["new_rule_id"]) == 32, s)
    s, _ = await ok(session, "rucio_get_replication_rule", rule_id=s["new_rule_id"])
    check(s["copies"] == 1, s)
    s, _ = await ok(session, "rucio_add_rule", dids=approve_did, copies=1, rse_expression="MOCK-POSIX2", ask_approval=True)
    waiting = s["rule_ids"][0]
    s, _ = await ok(session, "rucio_get_replication_rule", rule_id=waiting)
    check(s["state"] == "WAITING_APPROVAL", s)
    s, _ = await ok(session, "rucio_approve_rule", rule_id=waiting)
    check(s["approved"] is True, s)
    s, _ = await ok(session, "rucio_add_rule", dids=deny_did, copies=1, rse_expression="MOCK-POSIX2", ask_approval=True)
    denied = s["rule_ids"][0]
    s, _ = await ok(session, "rucio_deny_rule", rule_id=denied, reason="not needed")
    check(s["denied"] is True and s["reason"] == "not needed", s)
    await error(session, "rucio_get_replication_rule", "rule_not_found", rule_id=denied)


async def scenario_arguments(session):
    """Every list and enum parameter kind, written as people and models write it, against the
    real Rucio: each spelling must give what the canonical one gives."""
    # request_states: names or codes, any case, commas or spaces, or a JSON array.
    for tool, canonical, spellings in [
        ("rucio_list_requests", "Q,S", ["QUEUED,SUBMITTED", "queued submitted", " q , S ", ["QUEUED", "submitted"]]),
        ("rucio_list_requests_history", "D,F", ["DONE,FAILED", "done\nfailed", "Done, F"]),
    ]:
        base, _ = await ok(session, tool, src_rse="MOCK-POSIX", dst_rse="MOCK-POSIX2", request_states=canonical)
        for spelling in spellings:
            s, text = await ok(session, tool, src_rse="MOCK-POSIX", dst_rse="MOCK-POSIX2", request_states=spelling)
            check(s["requests"] == base["requests"], f"{tool} {spelling!r}: {s} != {base}")
        text = await error(session, tool, "invalid_argument", src_rse="MOCK-POSIX", dst_rse="MOCK-POSIX2", request_states="QUEUED,PENDING")
        check("PENDING" in text and "SUBMISSION_FAILED" in text, f"an unknown state lists the valid names: {text}")
    # A request made by a real rule is found by its state's name (the seed's rule to MOCK-POSIX2
    # stays REPLICATING: its transfers are queued for ever).
    s, text = await ok(session, "rucio_list_requests", src_rse="MOCK-POSIX", dst_rse="MOCK-POSIX2", request_states="queued")
    queued = {f"{r['scope']}:{r['name']}" for r in s["requests"]}
    check("data24:data24.run00002.DAOD._000001.root" in queued, f"the seed's queued transfers are listed: {s}")
    check("(states QUEUED)" in text, text)
    # DID lists: commas, spaces, newlines, tabs, a JSON array, for every tool that takes one.
    two = ["test:file_1.txt", "test:file_2.txt"]
    for spelling in ["test:file_1.txt,test:file_2.txt", "test:file_1.txt test:file_2.txt",
                     "test:file_1.txt\ntest:file_2.txt", " test:file_1.txt ,\ttest:file_2.txt ", two]:
        s, _ = await ok(session, "rucio_list_replicas", dids=spelling, all_states=True)
        check(s["dids"] == two and len(s["replicas"]) == 2, f"{spelling!r}: {s}")
    await error(session, "rucio_list_replicas", "invalid_argument", dids=" , ")
    rule_files = os.environ["RULE_FILES"].split(",")
    s, _ = await ok(session, "rucio_add_rule", dids=" \n".join(rule_files), copies=1, rse_expression="MOCK-POSIX2",
                    grouping="none", notify="progress", lifetime=600)
    check(s["dids"] == rule_files and len(s["rule_ids"]) == 2, f"one rule per DID: {s}")
    for rule_id in s["rule_ids"]:
        _, text = await ok(session, "rucio_get_replication_rule", rule_id=rule_id)
        check("grouping" in text and "NONE" in text.split("grouping", 1)[1].splitlines()[0], text)
        await ok(session, "rucio_delete_rule", rule_id=rule_id)
    for name, value in [("grouping", "by-file"), ("notify", "sometimes")]:
        text = await error(session, "rucio_add_rule", "invalid_argument", dids=rule_files[0], copies=1,
                           rse_expression="MOCK-POSIX2", **{name: value})
        check(value in text and ("`DATASET`" in text or "`N`" in text), text)
    # protocols: a list of URL schemes, in any case.
    base, _ = await ok(session, "rucio_list_replicas", dids="data24:data24.run00001.DAOD", protocols="file")
    check(base["replicas"] and all(p.startswith("file:") for r in base["replicas"] for p in sum(r["rses"].values(), [])), base)
    for spelling in ["FILE", "root file", "File,davs"]:
        s, _ = await ok(session, "rucio_list_replicas", dids="data24:data24.run00001.DAOD", protocols=spelling)
        check(s["replicas"] == base["replicas"], f"protocols {spelling!r}: {s}")
    # sort: the orders this Rucio knows, in any case; others are named as unknown.
    for spelling in ["random", "GEOIP", " Random "]:
        s, _ = await ok(session, "rucio_list_replicas", dids="data24:data24.run00001.DAOD", sort=spelling)
        check(len(s["replicas"]) == 3, f"sort {spelling!r}: {s}")
    text = await error(session, "rucio_list_replicas", "invalid_argument", dids="data24:data24.run00001.DAOD", sort="closeness")
    check("`geoip`" in text and "`random`" in text, text)
    # did_type, account_type, plugin: any case.
    for spelling in ["dataset", "DATASET", " Dataset "]:
        s, _ = await ok(session, "rucio_list_dids", did_pattern="data24:data24.run*", did_type=spelling)
        check(s["dids"] == ["data24:data24.run00001.DAOD", "data24:data24.run00002.DAOD"], f"did_type {spelling!r}: {s}")
    for spelling in ["user", "USER", " User"]:
        s, _ = await ok(session, "rucio_list_accounts", account_type=spelling)
        check([a["account"] for a in s["accounts"]] == ["jdoe"], f"account_type {spelling!r}: {s}")
    text = await error(session, "rucio_list_accounts", "invalid_argument", account_type="human")
    check("`USER`, `GROUP`, `SERVICE`" in text, text)
    base, _ = await ok(session, "rucio_get_metadata", did="data24:data24.run00002.DAOD", plugin="DID_COLUMN")
    for spelling in ["did_column", "Did_Column"]:
        s, _ = await ok(session, "rucio_get_metadata", did="data24:data24.run00002.DAOD", plugin=spelling)
        check(s["metadata"] == base["metadata"], f"plugin {spelling!r}")
    # (`JSON` and `ALL` need the JSON metadata of a PostgreSQL Rucio; this one runs on SQLite.)


async def scenario_proxy(session):
    # x509_proxy: the proxy file is read by the server itself, and the login uses it.
    s, text = await ok(session, "rucio_voms_proxy_info")
    check("/C=CH/O=Test/CN=Rucio Test Root" in s["output"], s)
    check("RFC3820" in text and "timeleft" in text.lower(), text)
    s, _ = await ok(session, "rucio_whoami")
    check(s["account"] == "root", s)


def browser_login(url):
    """The user's browser: the kit's headless login at the local OpenID provider."""
    out = subprocess.run([os.environ["KIT_PYTHON"], os.environ["BROWSER_LOGIN"], url, os.environ.get("OIDC_LOGIN", "alice")],
                         capture_output=True, text=True, timeout=60)
    check(out.returncode == 0, f"browser login failed: {out.stdout} {out.stderr}")


async def scenario_oidc_elicitation(session):
    # The client declared URL elicitation; the callback below plays the user opening the link.
    s, _ = await ok(session, "rucio_whoami")
    check(s["account"] == os.environ["OIDC_LOGIN_ACCOUNT"], s)
    check(ELICITED and ELICITED[0].startswith("http://127.0.0.1:"), f"the login URL came by elicitation: {ELICITED}")
    check(len(PROGRESS) >= 1, "progress notifications were sent while waiting")
    s, _ = await ok(session, "rucio_list_scopes_for_account")
    check(s["account"] == "jdoe", s)
    check(len(ELICITED) == 1, "logged in once for the whole session")


async def scenario_oidc_link(session):
    # No elicitation support: the first call returns the link; the user signs in; the retry works.
    result, text = await call(session, "rucio_whoami")
    check(result.is_error and "Error (authentication)" in text, text)
    url = next(w for w in text.split() if w.startswith("http://127.0.0.1:"))
    browser_login(url)
    deadline = time.time() + 30
    while True:
        result, text = await call(session, "rucio_whoami")
        if not result.is_error:
            break
        check(time.time() < deadline, f"the login was not picked up: {text}")
        await asyncio.sleep(1)
    check(result.structured_content["account"] == os.environ["OIDC_LOGIN_ACCOUNT"], result.structured_content)


async def run_modern(command):
    """The SDK's high-level `Client` in its default mode probes `server/discover` and speaks
    2026-07-28, where the login comes back as an input request instead of a server request."""
    from mcp import Client
    server = StdioServerParameters(command=command[0], args=command[1:], env=dict(os.environ))
    async with Client(server, elicitation_callback=elicitation_callback) as client:
        check(client.protocol_version == "2026-07-28", f"negotiated {client.protocol_version}")
        tools = (await client.list_tools()).tools
        check(len(tools) == 44, f"{len(tools)} tools")
        result = await client.call_tool("rucio_whoami", {})
        text = "".join(c.text for c in result.content if getattr(c, "type", "") == "text")
        check(not result.is_error, text)
        check(result.structured_content["account"] == os.environ["OIDC_LOGIN_ACCOUNT"], result.structured_content)
        check(len(ELICITED) == 1, f"the login URL came as an input request: {ELICITED}")
        result = await client.call_tool("rucio_list_dids", {"did_pattern": "data24:*"})
        check(not result.is_error and len(result.structured_content["dids"]) == 3, result.structured_content)
        check(len(ELICITED) == 1, "logged in once")


ELICITED = []
PROGRESS = []


async def elicitation_callback(context, params):
    check(getattr(params, "mode", None) == "url", f"expected URL mode, got {params}")
    ELICITED.append(params.url)
    await asyncio.to_thread(browser_login, params.url)
    return types.ElicitResult(action="accept")


async def main():
    scenario = sys.argv[1]
    command = sys.argv[sys.argv.index("--") + 1:]
    if scenario == "oidc_modern":
        await run_modern(command)
        print(f"scenario {scenario}: ok")
        return
    server = StdioServerParameters(command=command[0], args=command[1:], env=dict(os.environ))
    kwargs = {}
    if scenario == "oidc_elicitation":
        kwargs["elicitation_callback"] = elicitation_callback
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write, **kwargs) as session:
            started = time.time()
            await session.initialize()
            print(f"initialized in {(time.time() - started) * 1000:.1f} ms")
            await session.list_tools()  # the SDK validates results against the listed output schemas
            fn = globals()[f"scenario_{scenario}"]
            if scenario == "oidc_elicitation":
                async def progress(p, total, message):
                    PROGRESS.append(message)
                original = session.call_tool
                session.call_tool = lambda name, args: original(name, args, progress_callback=progress)
            await fn(session)
    print(f"scenario {scenario}: ok")


asyncio.run(main())
