"""An agent without a person: signs in to a hosted dirac-mcp without a browser, then submits a
job, follows it and kills it, with the Python MCP SDK (no LLM: the tool calls are scripted, the
way a CI job or a LangGraph/smolagents tool node would make them).

Two ways to a token, neither with a browser:
  * a machine client the operator configured (`dirac-mcp serve --machine-clients`): the OAuth
    `client_credentials` grant at the server's token endpoint, found by discovery
    (RFC 9728 resource metadata, then RFC 8414 authorization-server metadata);
  * a DiracX access token of your own (`dirac login` keeps one in
    ~/.cache/diracx/credentials.json), which the server verifies against DiracX's keys.

Usage:
  DIRAC_MCP_CLIENT_ID=ci-bot DIRAC_MCP_CLIENT_SECRET=... python agent.py https://mcp.example.org/site/lhcb/
  python agent.py --diracx-credentials ~/.cache/diracx/credentials.json https://mcp.example.org/site/lhcb/

Prints what it does; exits non-zero on the first failure. Needs `pip install mcp`.
"""
import argparse
import asyncio
import json
import os
import sys
import time
from urllib.parse import urlsplit, urlunsplit

try:  # the HTTP client of the MCP SDK: httpx2 from mcp 2.x, httpx before
    import httpx2 as httpx
except ImportError:
    import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def fail(message):
    print(f"agent: {message}", file=sys.stderr)
    sys.exit(1)


def well_known(url, name):
    """RFC 8414 / RFC 9728: /.well-known/NAME inserted before the URL's path."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, f"/.well-known/{name}{path}", "", ""))


async def client_credentials_token(mcp_url, client_id, client_secret):
    async with httpx.AsyncClient(timeout=30) as web:
        resource = (await web.get(well_known(mcp_url, "oauth-protected-resource"))).json()
        issuer = resource["authorization_servers"][0]
        metadata = (await web.get(well_known(issuer, "oauth-authorization-server"))).json()
        if "client_credentials" not in metadata.get("grant_types_supported", []):
            fail(f"{issuer} offers no client_credentials grant: ask the operator for a machine client")
        answer = await web.post(
            metadata["token_endpoint"],
            data={"grant_type": "client_credentials", "resource": resource["resource"]},
            auth=(client_id, client_secret),
        )
        if answer.status_code != 200:
            fail(f"the token endpoint refused: HTTP {answer.status_code} {answer.text[:300]}")
        token = answer.json()
        print(f"signed in as machine client {client_id}; the token lives {token['expires_in']} s")
        return token["access_token"]


def diracx_token(path):
    with open(os.path.expanduser(path)) as f:
        credentials = json.load(f)
    if credentials.get("expires_on", 0) < time.time() + 30:
        fail(f"the DiracX login in {path} has expired: run `dirac login` again")
    return credentials["access_token"]


async def call(session, name, **arguments):
    result = await session.call_tool(name, arguments)
    text = "".join(getattr(block, "text", "") for block in result.content)
    # The SDK's field names: snake_case from 2.0, camelCase before.
    is_error = getattr(result, "is_error", None)
    if is_error is None:
        is_error = getattr(result, "isError", False)
    if is_error:
        fail(f"{name} failed: {text}")
    structured = getattr(result, "structured_content", None)
    return structured if structured is not None else getattr(result, "structuredContent", None)


async def run(mcp_url, bearer, wait_seconds):
    headers = {"Authorization": f"Bearer {bearer}"}
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(mcp_url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                me = await call(session, "dirac_whoami")
                print(f"acting as {me['username']} (VO {me['vo']}, group {me['group']})")
                submitted = await call(
                    session, "dirac_submit_job",
                    executable="/bin/echo", arguments="hello from an agent", job_name="agent-example",
                )
                job_id = submitted["job_ids"][0]
                print(f"submitted job {job_id}")
                deadline = time.monotonic() + wait_seconds
                while True:
                    job = await call(session, "dirac_get_job", job_id=job_id)
                    status = job["job"].get("Status")
                    print(f"job {job_id}: {status} ({job['job'].get('MinorStatus')})")
                    if status not in ("Submitting", "Received", "Checking") or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(2)
                killed = await call(session, "dirac_kill_jobs", job_ids=[job_id])
                print(f"killed: {killed['applied']}")
                if job_id not in killed["applied"]:
                    fail(f"job {job_id} was not killed: {killed['jobs']}")
                job = await call(session, "dirac_get_job", job_id=job_id)
                print(f"job {job_id} is now {job['job'].get('Status')}")
                print(f"RESULT {json.dumps({'job_id': job_id, 'user': me['username'], 'status': job['job'].get('Status')})}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mcp_url", help="the site's MCP endpoint, e.g. https://mcp.example.org/site/lhcb/")
    parser.add_argument("--diracx-credentials", help="use the DiracX login in this file instead of a machine client")
    parser.add_argument("--wait", type=int, default=0, help="seconds to follow the job before killing it (default 0)")
    args = parser.parse_args()
    if args.diracx_credentials:
        bearer = diracx_token(args.diracx_credentials)
    else:
        client_id = os.environ.get("DIRAC_MCP_CLIENT_ID")
        client_secret = os.environ.get("DIRAC_MCP_CLIENT_SECRET")
        if not client_id or not client_secret:
            fail("set DIRAC_MCP_CLIENT_ID and DIRAC_MCP_CLIENT_SECRET, or pass --diracx-credentials")
        bearer = asyncio.run(client_credentials_token(args.mcp_url, client_id, client_secret))
    asyncio.run(run(args.mcp_url, bearer, args.wait))


if __name__ == "__main__":
    main()
