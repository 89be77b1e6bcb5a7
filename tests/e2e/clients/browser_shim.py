#!/usr/bin/env python3
"""Plays the person at the browser for an OAuth client that opens a URL: the bridge's consent page
(allow), Rucio's sign-in at the local OpenID provider ($KIT_PYTHON $BROWSER_LOGIN, as $OIDC_LOGIN),
the waiting page, and finally the client's own redirect URI (its local callback server). When the
consent sends the browser to DiracX instead (a redirecting upstream), the DiracX kit's
`login.py browse` ($DIRACX_PYTHON $DIRACX_LIB, $DIRACX_ENV_FILE, as $DIRAC_USER) follows it through
DiracX and its IdP back to the bridge and on to the client's redirect URI.

Usage: python3 browser_shim.py AUTHORIZE_URL   (standard library only, so any python3 runs it;
usable as BROWSER=... for clients that open URLs that way). Exit 0 once the callback answered.
"""
import html
import http.cookiejar
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request


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


def main():
    url = sys.argv[1]
    status, _, page = fetch(url)
    if status != 200:
        sys.exit(f"consent page: HTTP {status}: {page[:300]}")
    fields = {k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)}
    action = urllib.parse.urljoin(url, html.unescape(re.search(r'<form method="post" action="([^"]+)"', page).group(1)))
    form = urllib.parse.urlencode({**fields, "decision": "allow"}).encode()
    status, location, page = fetch(action, form)
    if status not in (302, 303):
        sys.exit(f"consent: HTTP {status}: {page[:300]}")
    waiting = urllib.parse.urljoin(action, location)
    if "/login/" not in urllib.parse.urlsplit(waiting).path:
        login = subprocess.run(
            [os.environ["DIRACX_PYTHON"], os.path.join(os.environ["DIRACX_LIB"], "login.py"),
             "--env", os.environ["DIRACX_ENV_FILE"], "browse", waiting, "--user", os.environ.get("DIRAC_USER", "alice")],
            capture_output=True, text=True, timeout=120,
        )
        if login.returncode != 0:
            sys.exit(f"DiracX login failed: {login.stdout} {login.stderr}")
        print(f"signed in at DiracX and delivered the authorization response: {login.stdout.strip()}")
        return
    status, _, page = fetch(waiting)
    link = re.search(r'<a class="login" href="([^"]+)"', page)
    if not link:
        sys.exit(f"no sign-in link on the waiting page (HTTP {status})")
    login = subprocess.run(
        [os.environ["KIT_PYTHON"], os.environ["BROWSER_LOGIN"], html.unescape(link.group(1)), os.environ.get("OIDC_LOGIN", "alice")],
        capture_output=True, text=True, timeout=120,
    )
    if login.returncode != 0:
        sys.exit(f"identity provider login failed: {login.stdout} {login.stderr}")
    status, location, page = fetch(waiting + "?wait=1")
    if status not in (302, 303) or not location:
        sys.exit(f"after sign-in: HTTP {status}: {page[:300]}")
    # The client's redirect URI: its callback server takes the code from here. TAMPER=state first
    # delivers the answer with another state (a forged callback), TAMPER=iss only with another
    # issuer (a mix-up): a client must refuse both.
    tamper = os.environ.get("TAMPER")
    if tamper in ("state", "iss"):
        parts = urllib.parse.urlsplit(location)
        query = dict(urllib.parse.parse_qsl(parts.query))
        query[tamper] = "https://evil.example" if tamper == "iss" else "forged-state"
        forged = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
        status, _, page = fetch(forged)
        print(f"delivered a tampered {tamper} (HTTP {status}): {re.sub(r'<[^>]+>', ' ', page)[:300]}")
        if tamper == "iss":
            return
    status, _, _ = fetch(location)
    print(f"delivered the authorization response (HTTP {status})")


if __name__ == "__main__":
    main()
