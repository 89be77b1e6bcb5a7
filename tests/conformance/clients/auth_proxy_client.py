"""The client side of the MCP conformance suite's client scenarios, played by `mcp-auth-proxy`:
the suite starts this script with its server's URL; the script starts the proxy on that URL and
drives it over stdio with the Python MCP SDK (initialize, list tools, call each tool), so every
HTTP request and every OAuth step the suite sees is the proxy's. The person at the browser is a
redirect follower (the suite's authorization server approves at once).

Env: MCP_AUTH_PROXY (the binary), MCP_CONFORMANCE_SCENARIO, MCP_CONFORMANCE_CONTEXT (client
credentials of pre-registration scenarios), set by the suite or by `cargo xtask conformance`.
"""
import asyncio
import json
import os
import stat
import sys
import tempfile

from mcp import ClientSession, StdioServerParameters, stdio_client, types

BROWSER = """#!/usr/bin/env python3
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=30).read()
except Exception as e:
    print(f"browser: {e}", file=sys.stderr)
"""


async def accept_defaults(context, params):
    """The person accepts what the form proposes: every field's default (the remote's request
    reached this client through the proxy)."""
    schema = getattr(params, "requested_schema", None) or {}
    content = {name: prop["default"] for name, prop in schema.get("properties", {}).items() if "default" in prop}
    return types.ElicitResult(action="accept", content=content)


async def main():
    url = sys.argv[-1]
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    home = tempfile.mkdtemp()
    browser = os.path.join(home, "browser.py")
    with open(browser, "w") as f:
        f.write(BROWSER)
    os.chmod(browser, stat.S_IRWXU)
    # The document the suite's scenarios know as this client's (used where a server accepts one).
    args = [url, "--no-banner", "--debug", "--cache-dir", os.path.join(home, "cache"),
            "--oidc-client-metadata-url", "https://conformance-test.local/client-metadata.json"]
    if context.get("client_id"):
        args += ["--oidc-client-id", context["client_id"]]
    env = {**os.environ, "BROWSER": browser}
    if context.get("client_secret"):
        env["OIDC_CLIENT_SECRET"] = context["client_secret"]
    server = StdioServerParameters(command=os.environ["MCP_AUTH_PROXY"], args=args, env=env)
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write, elicitation_callback=accept_defaults) as session:
            await session.initialize()
            tools = (await session.list_tools()).tools
            for tool in tools:
                result = await session.call_tool(tool.name, {})
                print(f"{tool.name}: isError={result.is_error}")
    print("done")


if __name__ == "__main__":
    asyncio.run(main())
