"""Drives rucio-mcp's OIDC bridge mode with the Python MCP SDK's own OAuth client, headlessly.

Usage: python oauth_scenarios.py SCENARIO URL
The SDK does discovery, registration (DCR, or CIMD with $CLIENT_METADATA_URL), PKCE and the token
exchange itself; this script only plays the person at the browser: it reads the consent page,
allows, opens Rucio's sign-in link with $KIT_PYTHON $BROWSER_LOGIN (the local OpenID provider's
login form, as $OIDC_LOGIN), and follows the waiting page back to the client's redirect URI.
Scenario inputs come from the environment, set by the Rust tests in tests/e2e. Prints
`TOKENS {json}` for the test to reuse. Exit 0 when every assertion holds.
"""
import asyncio
import html
import json
import os
import re
import subprocess
import sys
import time
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

from scenario_kit import call, check

CLIENT_NAME = 'Rucio <b>e2e</b> "client"'
REDIRECT_URI = "http://127.0.0.1:33418/callback"


class MemoryStorage(TokenStorage):
    def __init__(self):
        self.tokens = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


def hidden_fields(page):
    return {k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)}


class Browser:
    """The person: consent, sign-in at the identity provider, back to the client."""

    def __init__(self, decision="allow"):
        self.decision = decision
        self.result = None
        self.timings = {}

    async def open(self, authorize_url):
        started = time.monotonic()
        async with httpx2.AsyncClient(follow_redirects=False, timeout=60) as web:
            consent = await web.get(authorize_url)
            check(consent.status_code == 200, f"consent page: HTTP {consent.status_code} {consent.text[:300]}")
            page = consent.text
            check("frame-ancestors 'none'" in consent.headers.get("content-security-policy", ""), "consent page can be framed")
            escaped = os.environ.get("EXPECT_NAME_ESCAPED", "&lt;b&gt;e2e&lt;/b&gt;")
            check(escaped in page and html.unescape(escaped) not in page, f"client name not shown escaped: {escaped}")
            check("127.0.0.1:33418" in page, "consent page does not name the redirect host")
            check("local" in page, "consent page does not name the site")
            fields = hidden_fields(page)
            check({"request", "csrf"} <= fields.keys(), f"consent form fields: {fields.keys()}")
            action = urljoin(authorize_url, re.search(r'<form method="post" action="([^"]+)"', page).group(1))
            # A forged submission without the browser's cookie is refused.
            forged = await httpx2.AsyncClient(timeout=30).post(action, data={**fields, "decision": "allow"})
            check(forged.status_code == 400, f"consent without the CSRF cookie: HTTP {forged.status_code}")
            answer = await web.post(action, data={**fields, "decision": self.decision})
            check(answer.status_code in (302, 303), f"consent answer: HTTP {answer.status_code} {answer.text[:300]}")
            location = urljoin(action, answer.headers["location"])
            if self.decision != "allow":
                self.result = location
                return
            waiting = await web.get(location)
            check(waiting.status_code == 200, f"waiting page: HTTP {waiting.status_code}")
            link = re.search(r'<a class="login" href="([^"]+)"', waiting.text)
            check(link is not None, f"no sign-in link on the waiting page: {waiting.text[:500]}")
            login_url = html.unescape(link.group(1))
            self.timings["consent"] = time.monotonic() - started
            if os.environ.get("SKIP_IDP_LOGIN"):
                self.result = ("waiting", location)
                return
            login = await asyncio.to_thread(
                subprocess.run,
                [os.environ["KIT_PYTHON"], os.environ["BROWSER_LOGIN"], login_url, os.environ.get("OIDC_LOGIN", "alice")],
                capture_output=True, text=True, timeout=60,
            )
            check(login.returncode == 0, f"identity provider login failed: {login.stdout} {login.stderr}")
            self.timings["idp"] = time.monotonic() - started
            done = await web.get(location + "?wait=1")
            check(done.status_code in (302, 303), f"after sign-in: HTTP {done.status_code} {done.text[:300]}")
            self.timings["code"] = time.monotonic() - started
            self.result = done.headers["location"]

    async def callback(self):
        check(isinstance(self.result, str) and self.result.startswith(REDIRECT_URI), f"redirected to {self.result}")
        query = parse_qs(urlsplit(self.result).query)
        check("code" in query, f"no code in the redirect: {query}")
        check("iss" in query, "no iss (RFC 9207) in the redirect")
        return AuthorizationCodeResult(code=query["code"][0], state=query.get("state", [None])[0], iss=query["iss"][0])


def provider(url, storage, browser):
    metadata = OAuthClientMetadata(
        client_name=CLIENT_NAME,
        redirect_uris=[REDIRECT_URI],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    return OAuthClientProvider(
        server_url=url,
        client_metadata=metadata,
        storage=storage,
        redirect_handler=browser.open,
        callback_handler=browser.callback,
        client_metadata_url=os.environ.get("CLIENT_METADATA_URL") or None,
    )


async def refresh_by_hand(url, tokens, client_id):
    """Refreshes at the bridge's token endpoint (the SDK only does it near expiry) and checks that
    both tokens were renewed and the old refresh token is spent; returns the new tokens."""
    issuer = url.rstrip("/")
    async with httpx2.AsyncClient(timeout=60) as web:
        form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token, "client_id": client_id}
        fresh = await web.post(f"{issuer}/token", data=form)
        check(fresh.status_code == 200, f"refresh: HTTP {fresh.status_code} {fresh.text}")
        check(fresh.headers.get("cache-control") == "no-store", "token answer may be cached")
        fresh = fresh.json()
        check(fresh["refresh_token"] != tokens.refresh_token, "refresh token not rotated")
        check(fresh["access_token"] != tokens.access_token, "access token not renewed")
        replay = await web.post(f"{issuer}/token", data=form)
        check(replay.status_code == 400 and replay.json()["error"] == "invalid_grant", f"replayed refresh: {replay.text}")
    return fresh


async def sign_in_and_use(url):
    """The whole flow, then tools as the signed-in user, then a refresh."""
    storage = MemoryStorage()
    browser = Browser()
    started = time.monotonic()
    async with create_mcp_http_client(auth=provider(url, storage, browser)) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = {t.name for t in (await session.list_tools()).tools}
                check("rucio_token_info" in tools and "rucio_voms_proxy_info" not in tools, f"tools: {sorted(tools)}")
                check(len(tools) == 44, f"{len(tools)} tools")
                result, text = await call(session, "rucio_whoami")
                first_result = time.monotonic() - started
                check(not result.is_error, f"whoami failed: {text}")
                expected = os.environ["EXPECT_ACCOUNT"]
                check(result.structured_content["account"] == expected, f"acting as {result.structured_content['account']}")
                result, text = await call(session, "rucio_token_info")
                check(not result.is_error, f"token_info failed: {text}")
                info = result.structured_content
                check(info["account"] == expected and info["site"] == os.environ["EXPECT_SITE"], f"token info {info}")
                check(info["expires_in_seconds"] > 60, f"token info {info}")
    print(f"TIMINGS {json.dumps({**browser.timings, 'first_result': first_result})}")
    client_id = storage.client_info.client_id
    if os.environ.get("CLIENT_METADATA_URL"):
        check(client_id == os.environ["CLIENT_METADATA_URL"], f"client_id {client_id} is not the metadata URL")
    else:
        check(client_id.startswith("mcp-dcr."), f"client_id {client_id}")
    tokens = storage.tokens
    check(tokens.refresh_token, "no refresh token issued")
    fresh = await refresh_by_hand(url, tokens, client_id)
    # The refreshed access token works as a plain bearer.
    headers = {"Authorization": f"Bearer {fresh['access_token']}"}
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                result, text = await call(session, "rucio_whoami")
                check(not result.is_error and result.structured_content["account"] == os.environ["EXPECT_ACCOUNT"], f"after refresh: {text}")
    print("TOKENS " + json.dumps({"access_token": fresh["access_token"], "refresh_token": fresh["refresh_token"], "client_id": client_id}))


async def use_token(url):
    """Tools with an access token obtained elsewhere (another replica, before a restart)."""
    headers = {"Authorization": f"Bearer {os.environ['ACCESS_TOKEN']}"}
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                result, text = await call(session, "rucio_whoami")
                check(not result.is_error, f"whoami failed: {text}")
                check(result.structured_content["account"] == os.environ["EXPECT_ACCOUNT"], text)


async def deny(url):
    """The person refuses at the consent page: the client gets access_denied, and no token."""
    browser = Browser(decision="deny")
    storage = MemoryStorage()
    try:
        async with create_mcp_http_client(auth=provider(url, storage, browser)) as http:
            async with streamable_http_client(url, http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
        check(False, "the session opened although access was denied")
    except AssertionError:
        raise
    except BaseException as e:  # the SDK raises once the callback has no code
        print(f"refused as expected: {type(e).__name__}")
    check(isinstance(browser.result, str) and "error=access_denied" in browser.result, f"redirect {browser.result}")
    check(storage.tokens is None, "tokens issued although access was denied")


SCENARIOS = {"sign_in": sign_in_and_use, "use_token": use_token, "deny": deny}


def main():
    name, url = sys.argv[1], sys.argv[2]
    asyncio.run(SCENARIOS[name](url))
    print(f"scenario {name}: ok")


if __name__ == "__main__":
    main()
