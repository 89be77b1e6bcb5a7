"""Drives `rucio-mcp serve --transport http` with the official Python MCP SDK over streamable HTTP.

Usage: python http_scenarios.py SCENARIO URL
The bearer comes from $MCP_BEARER (sent as `Authorization: Bearer …`, the way a user configures a
static header); scenario inputs come from the environment, set by the Rust tests in tests/e2e.
Exit 0 when every assertion holds.
"""
import asyncio
import json
import os
import sys

from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from scenario_kit import call, check




async def scenario_robot(session):
    """The shared-secret robot: tools listed, real calls answered as the robot's account."""
    tools = (await session.list_tools()).tools
    check(len(tools) == 44, f"{len(tools)} tools")
    result, text = await call(session, "rucio_whoami")
    check(not result.is_error, f"whoami failed: {text}")
    expected = os.environ["EXPECT_ACCOUNT"]
    check(result.structured_content["account"] == expected,
          f"acting as {result.structured_content['account']}, expected {expected}")
    scope = os.environ["SEED_SCOPE"]
    result, text = await call(session, "rucio_list_dids", did_pattern=f"{scope}:*", did_type="all", limit=2)
    check(not result.is_error, f"list_dids failed: {text}")
    page = result.structured_content
    check(len(page["dids"]) == 2 and page["truncated"] and page["next_offset"] == 2, f"page of {page}")
    result, text = await call(session, "rucio_get_did", did=f"{scope}:no-such-did-anywhere")
    check(result.is_error and "did_not_found" in text, f"expected did_not_found: {text}")


async def scenario_outage(session):
    """One session across a Rucio outage: the test takes Rucio away after `phase: up` and brings
    it back after `phase: down`, answering each on stdin."""
    result, text = await call(session, "rucio_whoami")
    check(not result.is_error, f"whoami failed before the outage: {text}")
    print("phase: up", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    result, text = await call(session, "rucio_list_rses", limit=5)
    check(result.is_error, f"a call should fail while Rucio is down: {text}")
    check("Error (network)" in text, f"expected the network category: {text}")
    tools = (await session.list_tools()).tools
    check(len(tools) == 44, "tools/list still answers during the outage")
    print("phase: down", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    result, text = await call(session, "rucio_list_rses", limit=5)
    check(not result.is_error, f"no recovery after Rucio came back: {text}")


async def scenario_ping(session):
    result, text = await call(session, "rucio_ping")
    check(not result.is_error, f"ping failed: {text}")


async def scenario_slow_call(session):
    """A call that is running when the server is told to stop: it must still get its answer."""
    # The SDK checks results against the tools' output schemas, fetched once: fetch them now, as
    # no new request can reach a server that is shutting down.
    await session.list_tools()
    print("calling", flush=True)
    result, text = await call(session, "rucio_whoami")
    check(not result.is_error, f"whoami failed during shutdown: {text}")
    print("answered", flush=True)


async def modern(url, http):
    """Protocol 2026-07-28 (the SDK's `Client` in auto mode discovers it): no sessions, every
    request stands alone."""
    async with Client(streamable_http_client(url, http_client=http)) as client:
        check(client.protocol_version == "2026-07-28", f"negotiated {client.protocol_version}")
        tools = (await client.list_tools()).tools
        check(len(tools) == 44, f"{len(tools)} tools")
        result = await client.call_tool("rucio_whoami", {})
        check(not result.is_error, f"whoami failed: {result.content}")
        check(result.structured_content["account"] == os.environ["EXPECT_ACCOUNT"],
              f"acting as {result.structured_content}")


async def main():
    scenario, url = sys.argv[1], sys.argv[2]
    headers = {"Authorization": f"Bearer {os.environ['MCP_BEARER']}"}
    async with create_mcp_http_client(headers=headers) as http:
        if scenario == "modern":
            await modern(url, http)
            print("scenario modern: ok")
            return
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                check(init.server_info.name == "rucio-mcp", f"server {init.server_info}")
                await globals()[f"scenario_{scenario}"](session)
    print(f"scenario {scenario}: ok")


if __name__ == "__main__":
    asyncio.run(main())
