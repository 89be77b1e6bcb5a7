"""Drives dirac-mcp's OIDC bridge mode with the Python MCP SDK's own OAuth client, headlessly,
against the real DiracX: discovery, registration (DCR, or CIMD with $CLIENT_METADATA_URL), PKCE,
consent, DiracX's own authorization-code login (through the kit's mock IdP, as $DIRAC_USER), the
token exchange, tools as the signed-in user, and a refresh with rotation.

Usage: python dirac_oauth_scenarios.py SCENARIO URL
This script plays the person at the browser: it allows at the consent page and hands DiracX's
sign-in URL to the kit's `login.py browse` ($DIRACX_PYTHON $DIRACX_LIB/login.py), which follows
DiracX -> IdP -> DiracX -> the bridge's callback and stops at the client's redirect URI.
Prints `TOKENS {json}` and `TIMINGS {json}` for the Rust test. Exit 0 when every assertion holds.
"""
import asyncio
import json
import os
import re
import subprocess
import sys
import time
from urllib.parse import urljoin

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from oauth_scenarios import REDIRECT_URI, Browser, MemoryStorage, hidden_fields, provider, refresh_by_hand
from scenario_kit import call, check


class DiracBrowser(Browser):
    """Consent at the bridge, then DiracX's login (a redirect upstream: no waiting page)."""

    async def open(self, authorize_url):
        started = time.monotonic()
        async with httpx2.AsyncClient(follow_redirects=False, timeout=60) as web:
            consent = await web.get(authorize_url)
            check(consent.status_code == 200, f"consent page: HTTP {consent.status_code} {consent.text[:300]}")
            page = consent.text
            check(os.environ["EXPECT_SITE"] in page, "the consent page does not name the site")
            fields = hidden_fields(page)
            action = urljoin(authorize_url, re.search(r'<form method="post" action="([^"]+)"', page).group(1))
            answer = await web.post(action, data={**fields, "decision": "allow"})
            check(answer.status_code in (302, 303), f"consent answer: HTTP {answer.status_code} {answer.text[:300]}")
            login_url = urljoin(action, answer.headers["location"])
            check("/api/auth/authorize" in login_url, f"not sent to DiracX's login: {login_url}")
            self.timings["consent"] = time.monotonic() - started
            browsing = time.monotonic()
            login = await asyncio.to_thread(
                subprocess.run,
                [os.environ["DIRACX_PYTHON"], os.path.join(os.environ["DIRACX_LIB"], "login.py"),
                 "--env", os.environ["DIRACX_ENV_FILE"], "browse", login_url,
                 "--user", os.environ["DIRAC_USER"], "--stop-at", REDIRECT_URI],
                capture_output=True, text=True, timeout=60,
            )
            self.timings["browser"] = time.monotonic() - browsing
            check(login.returncode == 0, f"DiracX login failed: {login.stdout} {login.stderr}")
            found = re.search(r"^LOCATION=(.*)$", login.stdout, re.M)
            check(found is not None, f"never sent back to the client: {login.stdout} {login.stderr[-800:]}")
            self.timings["code"] = time.monotonic() - started
            self.result = found.group(1)


async def session_calls(session):
    """What the signed-in user sees and may do; returns the structured whoami."""
    user = os.environ["DIRAC_USER"]
    tools = {t.name for t in (await session.list_tools()).tools}
    check({"dirac_whoami", "dirac_search_jobs", "dirac_kill_jobs"} <= tools, f"tools: {sorted(tools)}")
    result, text = await call(session, "dirac_whoami")
    check(not result.is_error, f"whoami failed: {text}")
    me = result.structured_content
    check(me["username"] == user, f"acting as {me['username']}, not {user}")
    result, text = await call(session, "dirac_search_jobs", fields=["JobID", "Owner"], per_page=100)
    check(not result.is_error, f"search failed: {text}")
    owners = {job["Owner"] for job in result.structured_content["jobs"]}
    if me["job_administrator"]:
        check({"alice", "admin"} <= owners, f"an administrator sees every owner: {owners}")
    else:
        check(owners == {user}, f"{user} sees the jobs of {owners}")
        # Isolation: another user's job is neither shown nor changed.
        result, text = await call(session, "dirac_get_job", job_id=int(os.environ["OTHER_JOB"]))
        check(result.is_error, f"{user} read job {os.environ['OTHER_JOB']}: {text}")
        result, text = await call(session, "dirac_kill_jobs", job_ids=[int(os.environ["OTHER_JOB"])])
        check(result.is_error, f"{user} killed job {os.environ['OTHER_JOB']}: {text}")
    return me


async def sign_in(url):
    """The whole flow, tools as the user, then a refresh by hand: rotated, the old one spent."""
    storage = MemoryStorage()
    browser = DiracBrowser()
    started = time.monotonic()
    async with create_mcp_http_client(auth=provider(url, storage, browser)) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                result, text = await call(session, "dirac_whoami")
                first_result = time.monotonic() - started
                check(not result.is_error, f"whoami failed: {text}")
                await session_calls(session)
    print(f"TIMINGS {json.dumps({**browser.timings, 'first_result': first_result})}")
    client_id = storage.client_info.client_id
    if os.environ.get("CLIENT_METADATA_URL"):
        check(client_id == os.environ["CLIENT_METADATA_URL"], f"client_id {client_id} is not the metadata URL")
    else:
        check(client_id.startswith("mcp-dcr."), f"client_id {client_id}")
    tokens = storage.tokens
    check(tokens.refresh_token, "no refresh token issued: DiracX's refresh grant is not used")
    fresh = await refresh_by_hand(url, tokens, client_id)
    # The refreshed token carries DiracX's new access token: tools still run as the user.
    headers = {"Authorization": f"Bearer {fresh['access_token']}"}
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                await session_calls(session)
    print("TOKENS " + json.dumps({"access_token": fresh["access_token"], "refresh_token": fresh["refresh_token"],
                                  "old_refresh_token": tokens.refresh_token, "client_id": client_id}))


async def use_token(url):
    """Tools with a bearer obtained elsewhere: a bridge token, or a DiracX access token."""
    headers = {"Authorization": f"Bearer {os.environ['ACCESS_TOKEN']}"}
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                await session_calls(session)


async def diracx_down(url):
    """DiracX unreachable: the session still opens (nothing of it needs DiracX), and a tool
    call is an MCP tool error that says so and what to do, not a protocol failure."""
    headers = {"Authorization": f"Bearer {os.environ['ACCESS_TOKEN']}"}
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                result, text = await call(session, "dirac_search_jobs")
                check(result.is_error, f"a search succeeded without DiracX: {text}")
                check(result.structured_content["error"]["category"] == "network", f"category: {result.structured_content}")
                check("try again" in text.lower(), f"no advice: {text}")


async def outlive_expiry(url):
    """One session across the expiry of DiracX's access token (one minute on the kit's second
    instance): the SDK refreshes before its next request, and the call runs as the same user."""
    storage = MemoryStorage()
    browser = DiracBrowser()
    async with create_mcp_http_client(auth=provider(url, storage, browser)) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                first = storage.tokens
                check(first.expires_in <= 60, f"the access token lives {first.expires_in} s, not DiracX's minute")
                await session_calls(session)
                await asyncio.sleep(first.expires_in + 5)
                await session_calls(session)
                check(storage.tokens.access_token != first.access_token, "the SDK did not refresh")
                check(storage.tokens.refresh_token != first.refresh_token, "the refresh token did not rotate")


SCENARIOS = {"sign_in": sign_in, "outlive_expiry": outlive_expiry, "use_token": use_token, "diracx_down": diracx_down}


def main():
    name, url = sys.argv[1], sys.argv[2]
    asyncio.run(SCENARIOS[name](url))
    print(f"scenario {name}: ok")


if __name__ == "__main__":
    main()
