#!/usr/bin/env python3
"""Plays the person at the browser at the test OpenID provider (tests/fixtures/oidc-provider/idp.mjs)
for an OAuth client that opens a URL (BROWSER=...): follows the IdP's redirects with a cookie jar,
signs in on its login form as $IDP_LOGIN (default alice, any password), posts its consent form, and
delivers the authorization response to the client's redirect URI (its loopback callback) once a
redirect leaves the IdP.

Usage: python3 idp_browser.py AUTHORIZE_URL   (standard library only, so any python3 runs it).

TAMPER=state first delivers the answer with another state (a forged callback), then the real one;
TAMPER=iss only delivers it with another issuer (a mix-up, RFC 9207): a client must refuse both.
Prints what it does, never a code or token. Exit 0 once the callback answered 200 (with TAMPER=iss:
once the tampered answer was delivered), non-zero with a message on anything unexpected.
"""
import html
import html.parser
import http.cookiejar
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

FORGED = {"state": "forged-state", "iss": "http://127.0.0.1:1/evil"}
MAX_STEPS = 20


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


jar = http.cookiejar.CookieJar()
browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect())


def fetch(url, data=None):
    """(status, location, body) without following redirects."""
    try:
        with browser.open(urllib.request.Request(url, data=data), timeout=60) as r:
            return r.status, r.headers.get("location"), r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("location"), e.read().decode("utf-8", "replace")


def origin(url):
    parts = urllib.parse.urlsplit(url)
    return (parts.scheme, parts.netloc)


def text(page, limit):
    """The page's words, without its tags, styles and scripts."""
    page = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", page, flags=re.S | re.I)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)).strip()[:limit]


class Forms(html.parser.HTMLParser):
    """The page's forms: [(action, method, {name: value of the named inputs})]."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append((attrs.get("action") or "", (attrs.get("method") or "get").lower(), {}))
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1][2][attrs["name"]] = attrs.get("value") or ""


def fail(message):
    sys.exit(f"idp_browser: {message}")


def fill(url, page):
    """The form to post on an IdP page: (action URL, encoded fields, what it is)."""
    parser = Forms()
    parser.feed(page)
    posts = [f for f in parser.forms if f[1] == "post"]
    if not posts:
        fail(f"no form on the IdP page {urllib.parse.urlsplit(url).path}: {text(page, 300)}")
    action, _, fields = posts[0]
    action = urllib.parse.urljoin(url, html.unescape(action))
    prompt = fields.get("prompt")
    if prompt == "login":
        login = os.environ.get("IDP_LOGIN", "alice")
        fields["login"] = login
        fields["password"] = os.environ.get("IDP_PASSWORD", "any-password")
        what = f"login form: signing in as {login}"
    elif prompt == "consent":
        what = "consent form: allowing"
    else:
        fail(f"unexpected form (prompt={prompt!r}) on {urllib.parse.urlsplit(url).path}: {text(page, 300)}")
    return action, urllib.parse.urlencode(fields).encode(), what


def deliver(location):
    """Hands the authorization response to the client's redirect URI; returns the exit status."""
    parts = urllib.parse.urlsplit(location)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    names = [k for k, _ in query]
    where = urllib.parse.urlunsplit(parts._replace(query="", fragment=""))
    error = dict(query).get("error")
    if error:
        print(f"the IdP answered the client with error={error}")
    else:
        print(f"the IdP redirects to the client with {', '.join(names)}")
    tamper = os.environ.get("TAMPER")
    if tamper:
        if tamper not in FORGED:
            fail(f"unknown TAMPER={tamper!r} (state or iss)")
        if tamper not in names:
            fail(f"TAMPER={tamper}: the authorization response has no {tamper}")
        forged = [(k, FORGED[tamper] if k == tamper else v) for k, v in query]
        status, _, page = fetch(urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(forged))))
        print(f"delivered a tampered {tamper} to {where} (HTTP {status}): {text(page, 200)}")
        if tamper == "iss":
            return 0
    status, _, page = fetch(location)
    print(f"delivered the authorization response to {where} (HTTP {status}): {text(page, 200)}")
    return 0 if status == 200 else 1


def main():
    if len(sys.argv) != 2:
        fail("usage: idp_browser.py AUTHORIZE_URL")
    url = sys.argv[1]
    idp = origin(url)
    data = None
    for _ in range(MAX_STEPS):
        method = "POST" if data is not None else "GET"
        try:
            status, location, page = fetch(url, data)
        except OSError as e:
            fail(f"{method} {urllib.parse.urlsplit(url).path} failed: {e}")
        print(f"{method} {urllib.parse.urlsplit(url).path} -> HTTP {status}")
        data = None
        if status in (301, 302, 303, 307, 308):
            if not location:
                fail(f"HTTP {status} without a Location")
            target = urllib.parse.urljoin(url, location)
            if origin(target) != idp:
                return deliver(target)
            url = target
        elif status == 200:
            url, data, what = fill(url, page)
            print(what)
        else:
            fail(f"HTTP {status} at {urllib.parse.urlsplit(url).path}: {text(page, 300)}")
    fail(f"no redirect to the client after {MAX_STEPS} steps")


if __name__ == "__main__":
    sys.exit(main())
