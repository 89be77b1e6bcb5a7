#!/usr/bin/env python3
"""Tokens of the test OpenID provider (tests/fixtures/oidc-provider/idp.mjs) for the benches,
obtained headlessly the way `e2e_tests::TestIdp::token_for` does: the public client `mcp-public`,
PKCE S256, scope `openid offline_access mcp:tools`, `prompt=consent`, RFC 8707 `resource`, a
loopback redirect URI nobody listens at (the code is read from the `Location`), the IdP's login
form (any password) and consent form posted, then the code exchanged with `resource`.

The access token's format follows the resource URL (the fixture's rule): opaque if it contains
`opaque`, else an RS256 JWT (ES256 if it contains `es256`), `aud` the resource exactly.

As a module: `token_for(issuer, resource, login) -> dict` (the token response).
As a script: `idp_token.py ISSUER RESOURCE [--login alice] --out FILE` writes the token response
to FILE (created 0600); nothing secret goes to stdout or stderr. Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import html.parser
import http.cookiejar
import json
import os
import secrets
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request

CLIENT_ID = "mcp-public"
SCOPE = "openid offline_access mcp:tools"
MAX_STEPS = 20


class TokenError(Exception):
    pass


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class _Forms(html.parser.HTMLParser):
    """The page's forms: [(action, method, {name: value of the named inputs})]."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[tuple[str, str, dict[str, str]]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append((attrs.get("action") or "", (attrs.get("method") or "get").lower(), {}))
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1][2][attrs["name"]] = attrs.get("value") or ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def token_for(issuer: str, resource: str, login: str = "alice", timeout: float = 30.0) -> dict:
    """Signs `login` in at `issuer` for `resource`; returns the token response."""
    issuer = issuer.rstrip("/")
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect = f"http://127.0.0.1:{_free_port()}/callback"
    state = secrets.token_urlsafe(16)
    query = urllib.parse.urlencode({
        "client_id": CLIENT_ID, "response_type": "code", "redirect_uri": redirect, "scope": SCOPE,
        "prompt": "consent", "resource": resource, "code_challenge": challenge,
        "code_challenge_method": "S256", "state": state,
    })
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect())

    def fetch(url: str, data: bytes | None = None):
        try:
            with browser.open(urllib.request.Request(url, data=data), timeout=timeout) as r:
                return r.status, r.headers.get("location"), r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("location"), e.read().decode("utf-8", "replace")

    url, data = f"{issuer}/auth?{query}", None
    answer = None
    for _ in range(MAX_STEPS):
        status, location, page = fetch(url, data)
        data = None
        if status in (301, 302, 303, 307, 308):
            if not location:
                raise TokenError(f"HTTP {status} without a Location")
            target = urllib.parse.urljoin(url, location)
            if target.startswith(redirect):
                answer = target
                break
            if not target.startswith(issuer):
                raise TokenError("the IdP redirected elsewhere than the client")
            url = target
        elif status == 200:
            parser = _Forms()
            parser.feed(page)
            posts = [f for f in parser.forms if f[1] == "post"]
            if not posts:
                raise TokenError(f"no form on the IdP page {urllib.parse.urlsplit(url).path}")
            action, _, fields = posts[0]
            prompt = fields.get("prompt")
            if prompt == "login":
                fields["login"] = login
                fields["password"] = "any-password"
            elif prompt != "consent":
                raise TokenError(f"unexpected form (prompt={prompt!r}) on the IdP page")
            url = urllib.parse.urljoin(url, html.unescape(action))
            data = urllib.parse.urlencode(fields).encode()
        else:
            raise TokenError(f"HTTP {status} at {urllib.parse.urlsplit(url).path}")
    if answer is None:
        raise TokenError(f"no redirect to the client after {MAX_STEPS} steps")
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(answer).query))
    if "code" not in params:
        raise TokenError(f"no code in the authorization response (error={params.get('error')!r})")
    if params.get("state") != state:
        raise TokenError("the authorization response's state differs")
    form = urllib.parse.urlencode({
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": redirect,
        "code_verifier": verifier, "client_id": CLIENT_ID, "resource": resource,
    }).encode()
    status, _, body = fetch(f"{issuer}/token", form)
    if status != 200:
        try:
            error = json.loads(body).get("error")
        except ValueError:
            error = None
        raise TokenError(f"the code exchange answered HTTP {status} (error={error!r})")
    tokens = json.loads(body)
    if not tokens.get("access_token"):
        raise TokenError("the token response has no access_token")
    return tokens


def write_private(path: str, text: str) -> None:
    """Writes `text` to `path`, the file 0600 from the start."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("issuer")
    ap.add_argument("resource")
    ap.add_argument("--login", default="alice")
    ap.add_argument("--out", required=True, help="the file the token response goes to (0600)")
    args = ap.parse_args()
    try:
        tokens = token_for(args.issuer, args.resource, args.login)
    except (TokenError, OSError) as e:
        print(f"idp_token: {e}", file=sys.stderr)
        return 1
    write_private(args.out, json.dumps(tokens))
    return 0


if __name__ == "__main__":
    sys.exit(main())
