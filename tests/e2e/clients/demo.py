"""The demo of `cargo xtask demo`: a real MCP client (the Python SDK) talks to `rucio-mcp serve`
and prints what a language model would read.

Usage: python demo.py SERVER_COMMAND...
"""
import asyncio
import sys
import time

from mcp import ClientSession, StdioServerParameters, stdio_client

CALLS = [
    ("rucio_whoami", {}),
    ("rucio_list_dids", {"did_pattern": "data24:*", "did_type": "dataset"}),
    ("rucio_list_dataset_replicas", {"did": "data24:data24.run00001.DAOD", "deep": True}),
    ("rucio_list_did_rules", {"did": "data24:data24.run00002.DAOD"}),
    ("rucio_get_did", {"did": "data24:data24.no_such_dataset"}),
]


async def main():
    server = StdioServerParameters(command=sys.argv[1], args=sys.argv[2:])
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write) as session:
            started = time.time()
            init = await session.initialize()
            tools = (await session.list_tools()).tools
            print(f"connected to {init.server_info.name} {init.server_info.version}: "
                  f"{len(tools)} tools, initialize + tools/list in {(time.time() - started) * 1000:.0f} ms\n")
            for name, args in CALLS:
                result = await session.call_tool(name, args)
                text = "".join(c.text for c in result.content if getattr(c, "type", "") == "text")
                marker = " (tool error, as expected)" if result.is_error else ""
                print(f"### {name} {args}{marker}\n\n{text}\n")


asyncio.run(main())
