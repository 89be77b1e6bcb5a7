#!/usr/bin/env python3
"""Puts a token response into authful-mcp-proxy 0.3.0's token cache, so it starts without a
browser: what it would have stored after a sign-in of its own.

Run with the Python of authful-mcp-proxy's venv (it uses that package's own storage classes):
  authful_seed.py --issuer ISSUER --cache-dir DIR < token-response.json

authful-mcp-proxy (`authful_mcp_proxy/external_oidc.py`) keeps its tokens in a
`key_value.aio.stores.disk.DiskStore` (a `diskcache` SQLite directory), by default
`~/.mcp-auth/authful-mcp-proxy-<version>/`, through fastmcp's `TokenStorageAdapter` with
`server_url` = the `--oidc-issuer-url` exactly as given: the key `<issuer>/tokens` of the
collection `mcp-oauth-token` holds the `OAuthToken` (plus `<issuer>/token_expiry`). At start it
loads that token and takes it as valid for `expires_in` seconds from then (less 60 s) without
asking the issuer; it only opens a browser when there is none (or the issuer refuses a refresh).
The token response comes on stdin, never on the command line; nothing secret is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from fastmcp.client.auth.oauth import TokenStorageAdapter
from key_value.aio.stores.disk import DiskStore
from mcp.shared.auth import OAuthToken


async def seed(issuer: str, cache_dir: Path, tokens: dict) -> None:
    store = DiskStore(directory=cache_dir)
    storage = TokenStorageAdapter(async_key_value=store, server_url=issuer)
    token = OAuthToken.model_validate(tokens)
    await storage.set_tokens(token)
    back = await storage.get_tokens()
    if back is None or back.access_token != token.access_token:
        raise SystemExit("authful_seed: the token did not read back from the cache")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--issuer", required=True, help="exactly the --oidc-issuer-url given to the proxy")
    ap.add_argument("--cache-dir", required=True, type=Path)
    args = ap.parse_args()
    tokens = json.load(sys.stdin)
    args.cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    asyncio.run(seed(args.issuer, args.cache_dir, tokens))
    return 0


if __name__ == "__main__":
    sys.exit(main())
