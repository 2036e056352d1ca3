"""The Flask tutorial's cookie login as a plain WSGI application, without a framework."""

import argparse
import base64
import hashlib
import html
import io
import logging
import os
import re
import secrets
import sys
import traceback
import unicodedata
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import MutableMapping
from http import HTTPStatus
from pathlib import Path
from string import Template
from typing import Any
from typing import NamedTuple
from urllib.parse import quote
from urllib.parse import unquote

from gunicorn.http.errors import ParseException
from itsdangerous import BadSignature
from itsdangerous import Signer
from itsdangerous import want_bytes
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.http import dump_cookie
from werkzeug.http import parse_cookie
from werkzeug.http import parse_options_header
from werkzeug.wsgi import get_content_length

HTML_DIR = Path(__file__).parent / "html"
COOKIE_NAME = "userID"
# Over https: with the __Host- prefix, browsers take the cookie only from this very host, Secure, with
# Path=/ and no Domain, so a sibling subdomain or a plain-http page cannot plant one.
SECURE_COOKIE_NAME = "__Host-userID"
# RFC 6265's cookie-octets, less "%", which escapes everything else as the percent-encoded UTF-8 bytes
# (quote() keeps letters, digits and "_.-~" too). A name made of these alone is sent as it is.
COOKIE_SAFE = "!#$&'()*+/:<=>?@[]^`{|}"
# A cookie value exactly as the app issues it: cookie-octets, ".", then the HMAC-SHA256 in unpadded
# base64url, 43 characters whose last one carries 4 bits of the digest and 2 zero bits. Any other
# spelling of the same bytes (padding, "+/", other low bits) is refused before it is unsigned.
COOKIE_VALUE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+\.[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")
# Separates these signatures from anything else signed with the same SECRET_KEY.
COOKIE_SALT = "wsgiapp.userID"
MAX_NAME_LENGTH = 64
MAX_BODY_SIZE = 16 * 1024
MAX_FORM_PARTS = 8
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
# What a server's wsgi.input raises on a body the client broke: OSError for a dropped connection,
# Werkzeug's dev server's bad chunks and gunicorn's NoMoreData; gunicorn's ParseException for the
# rest of its chunked framing (InvalidChunkSize, ChunkMissingTerminator, bad trailers).
BROKEN_BODY = (OSError, ParseException)
# Cc: C0 and C1 controls (CR, LF, NUL, DEL...); Cs: lone surrogates, which cannot be encoded.
FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_PORTS = {"http": ":80", "https": ":443"}

log = logging.getLogger("wsgiapp")

Environ = dict[str, Any]
Headers = list[tuple[str, str]]


class Reply(NamedTuple):
    status: HTTPStatus
    headers: Headers
    body: bytes


Handler = Callable[[Environ], Reply]


def load_keys(env: MutableMapping[str, str]) -> tuple[str, list[str]]:
    """Return the signing key and the older keys that still verify."""
    secret_key = env.get("SECRET_KEY", "")
    if not secret_key:
        secret_key = secrets.token_hex(32)
        # Child processes (the dev server's reloader) inherit the key through the environment.
        env["SECRET_KEY"] = secret_key
        log.warning("SECRET_KEY is not set: using a random key; cookies will not survive a restart")
    fallbacks = [key.strip() for key in env.get("SECRET_KEY_FALLBACKS", "").split(",")]
    return secret_key, [key for key in fallbacks if key]


class CookieSigner(Signer):
    """itsdangerous's Signer, deriving each key once instead of on every sign and unsign.

    Signer derives the key from the secret key and the salt (one more HMAC) on every call; the
    result depends on nothing else, so it is computed here, once per key. Signatures are the same
    bytes as Signer's, so cookies signed before still verify.
    """

    def __init__(self, secret_keys: list[str], salt: str) -> None:
        super().__init__(secret_keys, salt=salt, key_derivation="hmac", digest_method=hashlib.sha256)
        self.derived_keys = {key: Signer.derive_key(self, key) for key in self.secret_keys}

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        key = self.secret_keys[-1] if secret_key is None else want_bytes(secret_key)
        return self.derived_keys[key]


def make_signer(secret_key: str, fallbacks: Iterable[str] = ()) -> Signer:
    """Sign with secret_key; also accept signatures made with any of the fallbacks."""
    # itsdangerous signs with the last key and tries them all, last first.
    return CookieSigner([*reversed(list(fallbacks)), secret_key], salt=COOKIE_SALT)


def load_max_age(env: Mapping[str, str]) -> int | None:
    """COOKIE_MAX_AGE in seconds makes the cookie persistent; unset, it lasts the browser session."""
    value = env.get("COOKIE_MAX_AGE", "")
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and int(value) > 0):
        raise ValueError(f"COOKIE_MAX_AGE must be a positive number of seconds, not {value!r}")
    return int(value)


SIGNER = make_signer(*load_keys(os.environ))
COOKIE_MAX_AGE = load_max_age(os.environ)

# Pages: html/layout.html around a fragment of html/, joined once at import.
STYLE = (HTML_DIR / "style.css").read_text("utf-8")
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
LAYOUT = (HTML_DIR / "layout.html").read_text("utf-8")


class Page(NamedTuple):
    template: Template
    # Filled in with every render: the style as it is, the rest escaped.
    constants: dict[str, str]


def escape_all(values: Mapping[str, str]) -> dict[str, str]:
    """Every value that goes into a page is escaped here, and only here."""
    return {key: html.escape(value) for key, value in values.items()}


def load_page(name: str, **constants: str) -> Page:
    """html/<name>.html set in place of the layout's $main, as one template.

    The two texts are joined as templates, so each $ is read once, when the page is rendered:
    $$ in either file is a literal $.
    """
    main = (HTML_DIR / f"{name}.html").read_text("utf-8")
    text = Template.pattern.sub(lambda match: main if match["named"] == "main" else match[0], LAYOUT)
    return Page(Template(text), {"style": STYLE, **escape_all(constants)})


def render(page: Page, **values: str) -> bytes:
    """Fill in every $name of a page, in one pass."""
    return page.template.substitute({**page.constants, **escape_all(values)}).encode()


INDEX_PAGE = load_page("index", title="Enter userID", max_length=str(MAX_NAME_LENGTH))
WELCOME_PAGE = load_page("welcome", title="Welcome")
ERROR_PAGE = load_page("error")

INDEX_BODY = render(INDEX_PAGE, error="")
READCOOKIE_BODY = render(load_page("readcookie", title="Cookie set"))
NOUSER_BODY = render(load_page("nouser", title="No user is set"))

CSP = (
    f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: Headers = [
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", CSP),
    ("Referrer-Policy", "same-origin"),
]
PAGE_HEADERS: Headers = [("Content-Type", "text/html; charset=utf-8"), *SECURITY_HEADERS]
# For answers that read or write the cookie: never cached, never shared between users.
PRIVATE: Headers = [("Cache-Control", "no-store"), ("Vary", "Cookie")]


# "200 OK": the status line of every status, made once.
STATUS_LINES = {status: f"{status.value} {status.phrase}" for status in HTTPStatus}


def page(status: HTTPStatus, body: bytes, extra: Iterable[tuple[str, str]] = ()) -> Reply:
    """An HTML answer with every header a page carries."""
    return Reply(status, [*PAGE_HEADERS, *extra, ("Content-Length", str(len(body)))], body)


def error_page(status: HTTPStatus, message: str, extra: Iterable[tuple[str, str]] = ()) -> Reply:
    body = render(ERROR_PAGE, title=STATUS_LINES[status], message=message)
    return page(status, body, extra)


# The answers that never change, made once.
INDEX_REPLY = page(HTTPStatus.OK, INDEX_BODY)
NOUSER_REPLY = page(HTTPStatus.OK, NOUSER_BODY, PRIVATE)
TOO_LARGE_REPLY = error_page(
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    f"The form may hold at most {MAX_BODY_SIZE} bytes in {MAX_FORM_PARTS} parts.",
    PRIVATE,
)


def redirect(location: str, extra: Iterable[tuple[str, str]] = ()) -> Reply:
    """303 See Other: the browser follows with a GET."""
    body = render(ERROR_PAGE, title="See Other", message=f"Continue to {location}")
    return page(HTTPStatus.SEE_OTHER, body, [("Location", location), *extra])


def is_https(environ: Environ) -> bool:
    return environ.get("wsgi.url_scheme") == "https"


def cookie_name(environ: Environ) -> str:
    return SECURE_COOKIE_NAME if is_https(environ) else COOKIE_NAME


def user_cookie(
    environ: Environ, value: str, max_age: int | None, expires: int | None = None
) -> tuple[str, str]:
    header = dump_cookie(
        cookie_name(environ),
        value,
        max_age=max_age,
        expires=expires,
        path="/",
        secure=is_https(environ),
        httponly=True,
        samesite="Lax",
    )
    return ("Set-Cookie", header)


def clear_cookie(environ: Environ) -> tuple[str, str]:
    # Expired at the epoch, so that a client whose clock runs slow drops it too.
    return user_cookie(environ, "", max_age=0, expires=0)


def name_error(names: list[str]) -> str | None:
    """Say what is wrong with the submitted names, or None if there is exactly one good one."""
    if not names:
        return "Please enter a user ID."
    if len(names) > 1:
        return "Send one user ID, not several."
    name = names[0]
    if not name.strip():
        return "The user ID must not be blank."
    if len(name) > MAX_NAME_LENGTH:
        return f"The user ID must be at most {MAX_NAME_LENGTH} characters long."
    # isprintable() is False for every Cc and Cs character (and for some others): only then look closer.
    if not name.isprintable() and any(unicodedata.category(char) in FORBIDDEN_CATEGORIES for char in name):
        return "The user ID must not contain control characters."
    return None


def encode_name(name: str) -> str:
    """The name in cookie-octets only, so that dump_cookie never quotes it: "José" -> "Jos%C3%A9"."""
    return quote(name, safe=COOKIE_SAFE)


def sign_name(name: str) -> str:
    return SIGNER.sign(encode_name(name)).decode()


def unsign_name(value: str) -> str | None:
    """The name in a cookie value that the app issued, spelled exactly as it issued it; else None."""
    if not COOKIE_VALUE.fullmatch(value):
        return None
    try:
        encoded = SIGNER.unsign(value).decode()
        name = unquote(encoded, errors="strict")
    except (BadSignature, UnicodeError):
        return None
    # The signature holds, but a cookie signed before names were encoded may spell its name
    # otherwise ("100%", "%41" for "A"): only the app's own spelling of a name it accepts names a user.
    return name if encode_name(name) == encoded and name_error([name]) is None else None


# parse_form_data(environ, ...) builds a FormDataParser on every call: this one is built once.
# Its limits default to no limit: each one is set (read_body caps the body's size).
FORM_PARSER = FormDataParser(max_form_memory_size=MAX_BODY_SIZE, max_form_parts=MAX_FORM_PARTS, silent=False)


def read_body(environ: Environ, content_length: int | None) -> bytes:
    """All of a body of content_length bytes, or of a chunked one up to one byte past the cap.

    Fewer bytes come back only if the stream ended first.
    """
    if content_length is None:
        if not environ.get("wsgi.input_terminated"):
            # PEP 3333: with no Content-Length and a stream the server does not end, read nothing.
            return b""
        content_length = MAX_BODY_SIZE + 1
    stream = environ["wsgi.input"]
    chunks = []
    left = content_length
    while left > 0 and (chunk := stream.read(left)):
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_form(environ: Environ) -> MultiDict[str, str] | Reply:
    """Parse the body as a form, or return the 4xx page that says why it is not one."""
    mimetype, options = parse_options_header(environ.get("CONTENT_TYPE"))
    # Media types are case-insensitive (RFC 9110, section 8.3.1); Werkzeug lowercases the options' names.
    mimetype = mimetype.lower()
    if mimetype not in FORM_TYPES:
        return error_page(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "Send the form as application/x-www-form-urlencoded or multipart/form-data.",
            PRIVATE,
        )
    content_length = get_content_length(environ)
    if content_length is not None and content_length > MAX_BODY_SIZE:
        return TOO_LARGE_REPLY
    try:
        body = read_body(environ, content_length)
    except BROKEN_BODY:
        return error_page(HTTPStatus.BAD_REQUEST, "The form could not be read.", PRIVATE)
    if len(body) > MAX_BODY_SIZE:
        return TOO_LARGE_REPLY
    if content_length is not None and len(body) < content_length:
        return error_page(HTTPStatus.BAD_REQUEST, "The form ended before its announced length.", PRIVATE)
    try:
        _, form, files = FORM_PARSER.parse(io.BytesIO(body), mimetype, len(body), options)
    except RequestEntityTooLarge:
        return TOO_LARGE_REPLY
    except ValueError:
        # A malformed multipart body, or bytes that are not UTF-8 (UnicodeDecodeError).
        return error_page(HTTPStatus.BAD_REQUEST, "The form could not be read.", PRIVATE)
    for upload in files.values():
        upload.close()
    return form


def index(environ: Environ) -> Reply:
    return INDEX_REPLY


def redirect_home(environ: Environ) -> Reply:
    return redirect("/")


def set_cookie(environ: Environ) -> Reply:
    form = read_form(environ)
    if isinstance(form, Reply):
        return form
    names = form.getlist("nm")
    error = name_error(names)
    if error is not None:
        body = render(INDEX_PAGE, error=error)
        return page(HTTPStatus.BAD_REQUEST, body, PRIVATE)
    cookie = user_cookie(environ, sign_name(names[0]), COOKIE_MAX_AGE)
    return page(HTTPStatus.OK, READCOOKIE_BODY, [cookie, *PRIVATE])


def read_user(environ: Environ) -> tuple[str | None, bool]:
    """Return the verified user ID, if any, and whether a bad cookie should be cleared."""
    try:
        values = parse_cookie(environ).getlist(cookie_name(environ))
    except UnicodeError:
        # Not UTF-8: whatever user cookie it holds cannot be ours.
        return None, True
    if not values:
        return None, False
    if len(values) > 1:
        # Two cookies of one name (another Path, a parent Domain): one was planted, and the
        # header does not say which. Neither names a user, whichever of them would verify.
        return None, True
    name = unsign_name(values[0])
    return name, name is None


def get_cookie(environ: Environ) -> Reply:
    name, clear = read_user(environ)
    if name is not None:
        return page(HTTPStatus.OK, render(WELCOME_PAGE, name=name), PRIVATE)
    if clear:
        return page(HTTPStatus.OK, NOUSER_BODY, [clear_cookie(environ), *PRIVATE])
    return NOUSER_REPLY


def delete_cookie(environ: Environ) -> Reply:
    return redirect("/", [clear_cookie(environ), *PRIVATE])


# Path -> {method: handler}. HEAD is answered by the GET handler without the body.
ROUTES: dict[str, dict[str, Handler]] = {
    "/": {"GET": index},
    "/setcookie": {"GET": redirect_home, "POST": set_cookie},
    "/getcookie": {"GET": get_cookie},
    "/deletecookie": {"POST": delete_cookie},
}


def allowed_methods(methods: Iterable[str]) -> str:
    names = {*methods, "OPTIONS"}
    if "GET" in names:
        names.add("HEAD")
    return ", ".join(sorted(names))


ALLOW = {path: allowed_methods(methods) for path, methods in ROUTES.items()}


def normalize_origin(origin: str) -> str:
    """Lowercase scheme://host[:port], without the scheme's default port."""
    scheme, sep, host = origin.lower().partition("://")
    return scheme + sep + host.removesuffix(DEFAULT_PORTS.get(scheme, ""))


def request_origin(environ: Environ) -> str:
    scheme = environ["wsgi.url_scheme"]
    host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    return normalize_origin(f"{scheme}://{host}")


def is_cross_origin(environ: Environ) -> bool:
    """Go 1.25's CrossOriginProtection rule for requests with unsafe methods."""
    site = environ.get("HTTP_SEC_FETCH_SITE")
    if site:
        return site not in ("same-origin", "none")
    origin = environ.get("HTTP_ORIGIN")
    if not origin:
        # No browser would leave both out of a cross-site request: curl, old clients.
        return False
    return normalize_origin(origin) != request_origin(environ)


def dispatch(environ: Environ) -> Reply:
    path = environ.get("PATH_INFO") or "/"
    methods = ROUTES.get(path)
    if methods is None:
        return error_page(HTTPStatus.NOT_FOUND, "There is no page at this address.")
    method = environ["REQUEST_METHOD"]
    handler = methods.get("GET" if method == "HEAD" else method)
    if handler is None:
        allow = ("Allow", ALLOW[path])
        if method == "OPTIONS":
            return Reply(HTTPStatus.NO_CONTENT, [allow, *SECURITY_HEADERS], b"")
        return error_page(HTTPStatus.METHOD_NOT_ALLOWED, f"This page takes {allow[1]}.", [allow])
    if method not in SAFE_METHODS and is_cross_origin(environ):
        return error_page(HTTPStatus.FORBIDDEN, "Cross-site form posts are refused.")
    return handler(environ)


SERVER_ERROR = error_page(HTTPStatus.INTERNAL_SERVER_ERROR, "Something went wrong on our side.")


def application(environ: Environ, start_response: Callable) -> list[bytes]:
    """The WSGI entry point."""
    exc_info = None
    try:
        reply = dispatch(environ)
    except Exception:
        traceback.print_exc(file=environ["wsgi.errors"])
        exc_info = sys.exc_info()
        reply = SERVER_ERROR
    # A copy of the headers: PEP 3333 lets the server change the list, and some replies are built once.
    start_response(STATUS_LINES[reply.status], list(reply.headers), exc_info)
    if environ["REQUEST_METHOD"] == "HEAD":
        return []
    return [reply.body]


if __name__ == "__main__":
    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser(description="Run wsgiapp on Werkzeug's development server.")
    parser.add_argument("--host", default="localhost", help="address to listen on (default: localhost)")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on (default: 5000)")
    parser.add_argument("--no-reload", action="store_true", help="do not restart when the code changes")
    args = parser.parse_args()
    run_simple(args.host, args.port, application, use_reloader=not args.no_reload)
