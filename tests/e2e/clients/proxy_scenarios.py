"""Drives `mcp-auth-proxy` (a stdio MCP server forwarding to a remote streamable-HTTP server) with
the official Python MCP SDK, and compares what it answers with the remote's own answers.

Usage: python proxy_scenarios.py SCENARIO -- PROXY_COMMAND...
Env: DIRECT_URL and MCP_BEARER (the remote, reached directly for comparison), EXPECT_ACCOUNT,
EXPECT_ERROR (the refused scenarios). Steps that need the test (a restart of the remote) are
announced on stdout and wait for a line on stdin. Exit 0 when every assertion holds.
"""
import asyncio
import os
import sys

from mcp import Client, ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from scenario_kit import call, check


async def direct(fn):
    """Runs `fn(session, init)` against the remote itself."""
    headers = {"Authorization": f"Bearer {os.environ['MCP_BEARER']}"}
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(os.environ["DIRECT_URL"], http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                return await fn(session, init)


async def step(name):
    """Tells the test to act, and waits until it has."""
    print(name, flush=True)
    await asyncio.to_thread(sys.stdin.readline)


async def scenario_forward(session, init):
    """Everything the remote says arrives unchanged: its handshake, its tools, its results and
    errors; a session the remote forgot is opened again without the client noticing."""
    async def remote_view(s, i):
        return i, (await s.list_tools()).tools
    their_init, their_tools = await direct(remote_view)
    check(init.server_info == their_init.server_info, f"server info {init.server_info}")
    check(init.capabilities == their_init.capabilities, f"capabilities {init.capabilities}")
    check(init.instructions == their_init.instructions, "instructions differ")
    check(init.protocol_version == their_init.protocol_version, f"protocol {init.protocol_version}")
    tools = (await session.list_tools()).tools
    check([t.model_dump() for t in tools] == [t.model_dump() for t in their_tools],
          f"{len(tools)} tools through the proxy, {len(their_tools)} directly")
    result, text = await call(session, "rucio_whoami")
    check(not result.is_error, f"whoami failed: {text}")
    check(result.structured_content["account"] == os.environ["EXPECT_ACCOUNT"], f"{result.structured_content}")
    result, text = await call(session, "rucio_get_did", did="no-such-scope:no-such-did")
    check(result.is_error, f"a tool error stays a tool error: {text}")
    try:
        await session.call_tool("no_such_tool", {})
        check(False, "an unknown tool was accepted")
    except MCPError as e:
        check("no_such_tool" in str(e), f"the remote's own JSON-RPC error: {e}")
    await session.send_ping()
    await step("restart the remote")
    result, text = await call(session, "rucio_whoami")
    check(not result.is_error, f"whoami after the remote forgot the session: {text}")
    tools = (await session.list_tools()).tools
    check(len(tools) == len(their_tools), f"{len(tools)} tools after the new session")


async def scenario_signed_in(session, init):
    """A person signed in through the proxy (or its cache): calls run as them."""
    tools = (await session.list_tools()).tools
    check(len(tools) > 0, "no tools")
    result, text = await call(session, "rucio_whoami")
    check(not result.is_error, f"whoami failed: {text}")
    check(result.structured_content["account"] == os.environ["EXPECT_ACCOUNT"], f"{result.structured_content}")


async def refused():
    """The remote refuses or cannot be reached: initialize fails with an error that says why."""
    async with stdio_client(proxy_params()) as (read, write):
        async with ClientSession(read, write) as session:
            try:
                await session.initialize()
                failure = None
            except MCPError as e:
                failure = e
    check(failure is not None, "initialize succeeded")
    expected = os.environ["EXPECT_ERROR"]
    check(expected in str(failure), f"expected {expected!r} in: {failure}")
    print(f"refused as expected: {failure}")


async def setup_survives():
    """What the client set up in its session (the log level) holds in the new session the proxy
    opens when the remote forgot the old one (the conformance fixture server: its
    `test_tool_with_logging` logs at info)."""
    levels = []

    async def on_log(params):
        levels.append(params.level)

    async with stdio_client(proxy_params()) as (read, write):
        async with ClientSession(read, write, logging_callback=on_log) as session:
            await session.initialize()
            await session.call_tool("test_tool_with_logging", {})
            check(len(levels) >= 2, f"the remote logs at info by default: {levels}")
            levels.clear()
            await session.set_logging_level("error")
            await session.call_tool("test_tool_with_logging", {})
            check(levels == [], f"level error set, yet: {levels}")
            await step("restart the remote")
            result = await session.call_tool("test_tool_with_logging", {})
            check(not result.is_error, f"the call in the new session failed: {result.content}")
            await asyncio.sleep(0.2)
            check(levels == [], f"the new session forgot the level: {levels}")
            await session.set_logging_level("debug")
            await session.call_tool("test_tool_with_logging", {})
            check(len(levels) >= 2, f"level debug in the new session: {levels}")


def proxy_params():
    command = sys.argv[sys.argv.index("--") + 1:]
    return StdioServerParameters(command=command[0], args=command[1:], env=dict(os.environ))


async def main():
    scenario = sys.argv[1]
    if scenario == "refused":
        await refused()
    elif scenario == "setup_survives":
        await setup_survives()
    elif scenario == "modern":
        async with Client(proxy_params()) as client:
            print(f"negotiated {client.protocol_version}")
            tools = (await client.list_tools()).tools
            check(len(tools) > 0, "no tools")
            result = await client.call_tool("rucio_whoami", {})
            check(not result.is_error, f"whoami failed: {result.content}")
            check(result.structured_content["account"] == os.environ["EXPECT_ACCOUNT"], f"{result.structured_content}")
    else:
        async with stdio_client(proxy_params()) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                await globals()[f"scenario_{scenario}"](session, init)
    print(f"scenario {scenario}: ok")


if __name__ == "__main__":
    asyncio.run(main())
