"""The same job as wsgiapp, written in Falcon 4 the way a Falcon user would: a second yardstick.

Falcon's own parts do the work: resources with on_get/on_post, req.get_media() with Falcon's
urlencoded and multipart handlers (the only two registered, so Falcon itself answers 415 to any
other body), req.get_cookie_values() and resp.set_cookie(), resp.cache_control and resp.vary,
middleware for the security headers and the cross-site check, an error serializer for the HTML
error pages, HTTPSeeOther for redirects. It differs from wsgiapp only in the framework: the rules
are wsgiapp's own, imported (the name checks, the limits, the cross-site rule, the cookie's names,
salt and spelling, the stylesheet and the security headers); signing is bench/yardstick.py's,
shared with the Flask app (itsdangerous's TimestampSigner as its documentation shows it).
Importing wsgiapp for its rules puts that module, and Werkzeug, in its memory too.

Pages: the files of html/ with string.Template, rendered on every request and escaped with
html.escape. Falcon has no template engine of its own, and these are the very files wsgiapp
fills, so the pages cannot drift from wsgiapp's; Jinja2 (which the Flask app uses, on the same
files) would measure Jinja2 rather than Falcon.

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
- A refused name gets no note on the characters taken out of it.
- No /favicon.svg or /robots.txt routes, and no COOKIE_MAX_AGE (the Flask app has none either).
"""

import html
from datetime import datetime
from datetime import timezone
from string import Template
from typing import Any

import falcon
import falcon.media

import wsgiapp
from bench.yardstick import form_values
from bench.yardstick import read_name
from bench.yardstick import sign_name

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
TEMPLATES = {
    name: Template(wsgiapp.LAYOUT.replace("$main", (wsgiapp.HTML_DIR / f"{name}.html").read_text("utf-8")))
    for name in ("index", "readcookie", "welcome", "nouser", "message")
}


def render(template: str, /, **values: object) -> str:
    """html/<template>.html in the layout; every value escaped, the stylesheet as it is."""
    escaped = {key: html.escape(str(value)) for key, value in values.items()}
    return TEMPLATES[template].substitute(escaped, style=wsgiapp.STYLE)


def private(resp: falcon.Response) -> None:
    resp.cache_control = ["no-store"]
    resp.vary = ["Cookie"]


class SecurityHeaders:
    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        resp.set_headers(wsgiapp.SECURITY_HEADERS)


class RefuseCrossSite:
    """Go 1.25's CrossOriginProtection rule, after routing, so an unknown path is still a 404."""

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: object, params: dict[str, Any]
    ) -> None:
        if resource is None or req.method in wsgiapp.SAFE_METHODS:
            return
        if wsgiapp.is_cross_origin(req.env):
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
    return wsgiapp.SECURE_COOKIE_NAME if is_https(req) else wsgiapp.COOKIE_NAME


def clear_cookie(req: falcon.Request, resp: falcon.Response) -> None:
    # Not unset_cookie(): it cannot mark the cookie Secure, without which browsers ignore a
    # Set-Cookie of the __Host- name.
    resp.set_cookie(cookie_name(req), "", expires=EPOCH, path="/", secure=is_https(req), same_site="Lax")


class Index:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.text = render("index", **form_values())

    on_head = on_get


class SetCookie:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise falcon.HTTPSeeOther("/")

    on_head = on_get

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        private(resp)
        if req.content_length is not None and req.content_length > wsgiapp.MAX_BODY_SIZE:
            raise falcon.HTTPContentTooLarge(
                description=f"The form may hold at most {wsgiapp.MAX_BODY_SIZE} bytes."
            )
        names = form_names(req.get_media())
        error = wsgiapp.name_error(names)
        if error is not None:
            resp.status = falcon.HTTP_400
            typed = wsgiapp.shown_again(names[0]) if names else ""
            resp.text = render("index", **form_values(typed, error))
            return
        resp.text = render("readcookie", title="Cookie set")
        resp.set_cookie(
            cookie_name(req), sign_name(names[0]), path="/", secure=is_https(req), same_site="Lax"
        )


class GetCookie:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        private(resp)
        values = req.get_cookie_values(cookie_name(req)) or []
        name = read_name(values[0]) if len(values) == 1 else None
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
multipart.parse_options.max_body_part_count = wsgiapp.MAX_FORM_PARTS
multipart.parse_options.max_body_part_buffer_size = wsgiapp.MAX_BODY_SIZE
app.req_options.media_handlers = falcon.media.Handlers(
    {falcon.MEDIA_URLENCODED: falcon.media.URLEncodedFormHandler(), falcon.MEDIA_MULTIPART: multipart}
)
app.set_error_serializer(error_page)
app.add_route("/", Index())
app.add_route("/setcookie", SetCookie())
app.add_route("/getcookie", GetCookie())
app.add_route("/deletecookie", DeleteCookie())

application = app
