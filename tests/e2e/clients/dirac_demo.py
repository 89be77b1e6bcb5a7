"""The dirac-mcp part of `cargo xtask demo`: a real MCP client (the Python SDK) talks to
`dirac-mcp serve` and prints what a language model would read.

Usage: python dirac_demo.py SERVER_COMMAND...
"""
import asyncio
import sys
import time

from mcp import ClientSession, StdioServerParameters, stdio_client

CALLS = [
    ("dirac_whoami", {}),
    ("dirac_job_summary", {}),
    ("dirac_search_jobs", {"parameter": "Status", "operator": "in", "values": ["Failed", "Stalled"]}),
    ("dirac_get_job", {"job_id": 3}),
    ("dirac_kill_jobs", {"job_ids": [8]}),
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
                marker = " (refused, as expected: job 8 is admin's)" if result.is_error else ""
                print(f"### {name} {args}{marker}\n\n{text}\n")


asyncio.run(main())
