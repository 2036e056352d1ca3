"""The same job as wsgiapp, written in Falcon 4 the way a Falcon user would: a second yardstick.

Falcon's own parts do the work: resources with on_get/on_post, req.get_media() with Falcon's
urlencoded and multipart handlers (the only two registered, so Falcon itself answers 415 to any
other body), req.get_cookie_values() and resp.set_cookie(), resp.cache_control and resp.vary,
middleware for the security headers and the cross-site check, an error serializer for the HTML
error pages, HTTPSeeOther for redirects. Signing is the same itsdangerous TimestampSigner as wsgiapp's and
bench/flask_app.py's (salt, HMAC-SHA256, keys from SECRET_KEY and SECRET_KEY_FALLBACKS).

Pages: the files of html/ with string.Template, rendered on every request and escaped with
html.escape. Falcon has no template engine of its own, and these are the very files wsgiapp
fills, so the pages cannot drift from wsgiapp's; Jinja2 would need a second copy of them
(bench/templates/ is Flask's) and would measure Jinja2 rather than Falcon.

Where its answers differ from wsgiapp's byte for byte (Falcon's behaviour, kept as it is); the pages
of the benchmark's routes (GET /, POST /setcookie, GET /getcookie, 404, 405, 403, the form's 400s)
are the same bytes:
- Header names are lowercase ("content-type") and in Falcon's order; the values are the same,
  but for Set-Cookie.
- Set-Cookie goes through Python's SimpleCookie, which quotes a value holding characters outside
  its legal set, even cookie-octets such as "<" and ">": the benchmark's name is sent as
  userID="Alice%20&%20<Bob>.<signature>" (wsgiapp: unquoted). Falcon reads a quoted value back
  unquoted. Secure comes last; cleared, the cookie is userID="" with
  "expires=Thu, 01 Jan 1970 00:00:00 GMT" and no Max-Age.
- Redirects (POST /deletecookie, GET /setcookie) have an empty body; wsgiapp sends a short page.
- OPTIONS is Falcon's default responder: 200 with "Allow: GET, HEAD"; wsgiapp sends 204 and
  "Allow: GET, HEAD, OPTIONS".
- Falcon's own errors carry Falcon's status phrases and descriptions: 413 "Content Too Large",
  415, a malformed form (400), more than 8 multipart parts (400, where wsgiapp sends 413).
- A body without Content-Length (chunked) reads as empty: Falcon's bounded stream takes its length
  from Content-Length, so such a form gets "Please enter a user ID."
- No /favicon.svg or /robots.txt routes, and no COOKIE_MAX_AGE (the Flask app has none either).
"""

import base64
import hashlib
import html
import os
import re
import unicodedata
from datetime import datetime
from datetime import timezone
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import quote
from urllib.parse import unquote

import falcon
import falcon.media
from itsdangerous import BadSignature
from itsdangerous import TimestampSigner

HTML_DIR = Path(__file__).parent.parent / "html"
COOKIE_NAME = "userID"
SECURE_COOKIE_NAME = "__Host-userID"
COOKIE_SAFE = "!#$&'()*+/:<=>?@[]^`{|}"
COOKIE_VALUE = re.compile(
    r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+\.[A-Za-z0-9_-]{5}[AQgw]\.[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]"
)
COOKIE_SALT = "wsgiapp.userID"
# The server's limit on a cookie's age, as wsgiapp's without COOKIE_MAX_AGE: 31 days.
LIFETIME = 31 * 24 * 3600
MAX_NAME_LENGTH = 64
MAX_BODY_SIZE = 16 * 1024
MAX_FORM_PARTS = 8
FORBIDDEN_CATEGORIES = {"Cc", "Cs"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
DEFAULT_PORTS = {"http": ":80", "https": ":443"}
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

SECRET_KEY = os.environ["SECRET_KEY"]
SECRET_KEY_FALLBACKS = [
    key.strip() for key in os.environ.get("SECRET_KEY_FALLBACKS", "").split(",") if key.strip()
]
signer = TimestampSigner(
    [*reversed(SECRET_KEY_FALLBACKS), SECRET_KEY],
    salt=COOKIE_SALT,
    key_derivation="hmac",
    digest_method=hashlib.sha256,
)

STYLE = (HTML_DIR / "style.css").read_text("utf-8")
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CSP = (
    f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "same-origin",
}

LAYOUT = (HTML_DIR / "layout.html").read_text("utf-8")
TEMPLATES = {
    name: Template(LAYOUT.replace("$main", (HTML_DIR / f"{name}.html").read_text("utf-8")))
    for name in ("index", "readcookie", "welcome", "nouser", "message")
}


def render(template: str, /, **values: object) -> str:
    """html/<template>.html in the layout; every value escaped, the stylesheet as it is."""
    escaped = {key: html.escape(str(value)) for key, value in values.items()}
    return TEMPLATES[template].substitute(escaped, style=STYLE)


def private(resp: falcon.Response) -> None:
    resp.cache_control = ["no-store"]
    resp.vary = ["Cookie"]


def normalize_origin(origin: str) -> str:
    scheme, sep, host = origin.lower().partition("://")
    return scheme + sep + host.removesuffix(DEFAULT_PORTS.get(scheme, ""))


class SecurityHeaders:
    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        resp.set_headers(SECURITY_HEADERS)


class RefuseCrossSite:
    """Go 1.25's CrossOriginProtection rule, after routing, so an unknown path is still a 404."""

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: object, params: dict[str, Any]
    ) -> None:
        if resource is None or req.method in SAFE_METHODS:
            return
        site = req.get_header("Sec-Fetch-Site")
        if site:
            cross = site not in ("same-origin", "none")
        else:
            origin = req.get_header("Origin")
            cross = bool(origin) and normalize_origin(origin) != normalize_origin(
                f"{req.scheme}://{req.netloc}"
            )
        if cross:
            raise falcon.HTTPForbidden(description="Cross-site form posts are refused.")


def error_page(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError) -> None:
    """Every HTTPError as the error page of html/, instead of Falcon's JSON."""
    message = error.description
    if message is None and error.status_code == 404:
        message = "There is no page at this address. Check it, or start from the form."
    elif message is None and error.status_code == 405:
        message = "This page cannot be opened this way. Start from the form."
    resp.content_type = falcon.MEDIA_HTML
    resp.text = render("message", title=error.status, message=message or error.title)


def name_error(names: list[str]) -> str | None:
    if not names:
        return "Please enter a user ID."
    if len(names) > 1:
        return "Send one user ID, not several."
    name = names[0]
    if not name.strip():
        return "The user ID must not be blank."
    if len(name) > MAX_NAME_LENGTH:
        return f"The user ID must be at most {MAX_NAME_LENGTH} characters long."
    if any(unicodedata.category(char) in FORBIDDEN_CATEGORIES for char in name):
        return "The user ID must not contain control characters."
    return None


def shown_again(name: str) -> str:
    """A refused name as the form shows it again: without its control characters."""
    return "".join(char for char in name if unicodedata.category(char) not in FORBIDDEN_CATEGORIES)


def form_names(form: object) -> list[str]:
    """The values of the field nm: a dict from the urlencoded handler, parts from the multipart one."""
    if isinstance(form, dict):
        value = form.get("nm", [])
        return value if isinstance(value, list) else [value]
    # Like Flask's request.form: parts that carry a file name are files, not fields.
    return [
        text
        for part in form
        if part.name == "nm" and part.filename is None and (text := part.get_text()) is not None
    ]


def is_https(req: falcon.Request) -> bool:
    return req.scheme == "https"


def cookie_name(req: falcon.Request) -> str:
    return SECURE_COOKIE_NAME if is_https(req) else COOKIE_NAME


def clear_cookie(req: falcon.Request, resp: falcon.Response) -> None:
    # Not unset_cookie(): it cannot mark the cookie Secure, without which browsers ignore a
    # Set-Cookie of the __Host- name.
    resp.set_cookie(cookie_name(req), "", expires=EPOCH, path="/", secure=is_https(req), same_site="Lax")


def unsign_name(value: str) -> str | None:
    if not COOKIE_VALUE.fullmatch(value):
        return None
    try:
        encoded = signer.unsign(value, max_age=LIFETIME).decode()
        name = unquote(encoded, errors="strict")
    except (BadSignature, UnicodeError):
        return None
    if quote(name, safe=COOKIE_SAFE) != encoded or name_error([name]) is not None:
        return None
    return name


class Index:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.text = render(
            "index", title="Enter userID", name="", error="", invalid="false", max_length=MAX_NAME_LENGTH
        )

    on_head = on_get


class SetCookie:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise falcon.HTTPSeeOther("/")

    on_head = on_get

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        private(resp)
        if req.content_length is not None and req.content_length > MAX_BODY_SIZE:
            raise falcon.HTTPContentTooLarge(description=f"The form may hold at most {MAX_BODY_SIZE} bytes.")
        names = form_names(req.get_media())
        error = name_error(names)
        if error is not None:
            resp.status = falcon.HTTP_400
            typed = shown_again(names[0]) if names else ""
            resp.text = render(
                "index",
                title="Enter userID",
                name=typed,
                error=error,
                invalid="true",
                max_length=MAX_NAME_LENGTH,
            )
            return
        resp.text = render("readcookie", title="Cookie set")
        value = signer.sign(quote(names[0], safe=COOKIE_SAFE)).decode()
        resp.set_cookie(cookie_name(req), value, path="/", secure=is_https(req), same_site="Lax")


class GetCookie:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        private(resp)
        values = req.get_cookie_values(cookie_name(req)) or []
        name = unsign_name(values[0]) if len(values) == 1 else None
        if name is not None:
            resp.text = render("welcome", title="Welcome", name=name)
            return
        resp.text = render("nouser", title="No user is set")
        if values:
            clear_cookie(req, resp)

    on_head = on_get


class DeleteCookie:
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        private(resp)
        clear_cookie(req, resp)
        raise falcon.HTTPSeeOther("/")


app = falcon.App(media_type=falcon.MEDIA_HTML, middleware=[SecurityHeaders(), RefuseCrossSite()])
multipart = falcon.media.MultipartFormHandler()
multipart.parse_options.max_body_part_count = MAX_FORM_PARTS
multipart.parse_options.max_body_part_buffer_size = MAX_BODY_SIZE
app.req_options.media_handlers = falcon.media.Handlers(
    {falcon.MEDIA_URLENCODED: falcon.media.URLEncodedFormHandler(), falcon.MEDIA_MULTIPART: multipart}
)
app.set_error_serializer(error_page)
app.add_route("/", Index())
app.add_route("/setcookie", SetCookie())
app.add_route("/getcookie", GetCookie())
app.add_route("/deletecookie", DeleteCookie())

application = app
