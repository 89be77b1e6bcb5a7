//! The few pages a person sees: consent, waiting for the upstream login, and errors. Every piece
//! of text from a request or a client is HTML-escaped; pages cannot be framed.

use axum::response::{Html, IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

fn esc(text: &str) -> String {
    html_escape::encode_double_quoted_attribute(text).into_owned()
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#222}\
h1{font-size:1.4rem}.box{border:1px solid #ccc;border-radius:8px;padding:1rem 1.25rem;margin:1rem 0}\
button{font-size:1rem;padding:.5rem 1.25rem;margin-right:.75rem;border-radius:6px;border:1px solid #888;cursor:pointer}\
button.primary{background:#1a5fb4;color:#fff;border-color:#1a5fb4}.muted{color:#666;font-size:.9rem}\
a.login{display:inline-block;font-size:1.1rem;padding:.6rem 1.2rem;background:#1a5fb4;color:#fff;border-radius:6px;text-decoration:none}";

/// A page with the bridge's security headers.
pub(crate) fn page(status: StatusCode, title: &str, head: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">{head}\
         <title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
        esc(title)
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// An error shown to the person in the browser (when the client cannot be told by redirect).
pub(crate) fn error(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><p>{}</p><p class=\"muted\">Start again from your MCP client (reconnect or sign in again).</p>",
        esc(title),
        esc(detail)
    );
    page(status, title, "", &body)
}

/// What the consent page shows.
pub(crate) struct Consent<'a> {
    pub(crate) action: &'a str,
    pub(crate) client_name: Option<&'a str>,
    pub(crate) client_id: &'a str,
    pub(crate) verified_name: bool,
    pub(crate) redirect_host: &'a str,
    pub(crate) site_title: &'a str,
    pub(crate) upstream: &'a str,
    pub(crate) request: &'a str,
    pub(crate) csrf: &'a str,
}

pub(crate) fn consent(c: &Consent<'_>) -> Response {
    let name = match c.client_name {
        Some(name) if !name.trim().is_empty() => esc(name),
        _ => "An MCP client".to_owned(),
    };
    let claimed = if c.verified_name {
        String::new()
    } else {
        " <span class=\"muted\">(name given by the client itself)</span>".to_owned()
    };
    let body = format!(
        "<h1>Allow access to {site}?</h1>\
         <div class=\"box\"><p><strong>{name}</strong>{claimed} wants to use <strong>{site}</strong> as you.</p>\
         <p>After you allow it, you sign in at <strong>{upstream}</strong>, and the client is sent back to \
         <strong>{host}</strong>.</p><p class=\"muted\">Client id: {id}</p></div>\
         <p>Only continue if you started this from your MCP client and recognise <strong>{host}</strong>.</p>\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"request\" value=\"{request}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button class=\"primary\" type=\"submit\" name=\"decision\" value=\"allow\">Allow and sign in</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        site = esc(c.site_title),
        upstream = esc(c.upstream),
        host = esc(c.redirect_host),
        id = esc(c.client_id),
        action = esc(c.action),
        request = esc(c.request),
        csrf = esc(c.csrf),
    );
    page(StatusCode::OK, &format!("Allow access to {}?", c.site_title), "", &body)
}

/// The page that waits for a polling upstream login; it reloads itself (the reload waits on the
/// server until the login is done, so it finishes as soon as the user has signed in).
#[cfg(feature = "polling")]
pub(crate) fn waiting(
    site_title: &str,
    upstream: &str,
    login_url: &str,
    refresh: &str,
    note: Option<&str>,
) -> Response {
    let note = note.map(|n| format!("<p class=\"muted\">{}</p>", esc(n))).unwrap_or_default();
    let head = format!("<meta http-equiv=\"refresh\" content=\"1;url={}\">", esc(refresh));
    let body = format!(
        "<h1>Sign in to {site}</h1>\
         <div class=\"box\"><p>Open the sign-in page of <strong>{upstream}</strong> and log in there:</p>\
         <p><a class=\"login\" href=\"{url}\" target=\"_blank\" rel=\"noopener noreferrer\">Sign in at {upstream}</a></p>\
         <p class=\"muted\">Waiting for you to sign in… This page continues by itself once you have; keep it open.</p></div>{note}",
        site = esc(site_title),
        upstream = esc(upstream),
        url = esc(login_url),
    );
    page(StatusCode::OK, &format!("Sign in to {site_title}"), &head, &body)
}
