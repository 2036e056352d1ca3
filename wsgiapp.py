"""The Flask tutorial's cookie login as a plain WSGI application, without a framework.

A request's way: App.__call__ looks the path up in ROUTES -> dispatch, which picks the handler for the
method -> a Reply (status, headers, body), or a Refusal raised on the way, which App.__call__ answers
with its page; it sends the answer, never cached where the route reads or writes the cookie. The
module reads in that order:

1. Tunables: the cookie's names, the limits, the lifetimes.
2. The request: App, dispatch, the refusals, the cross-site rule, the handlers.
3. The form: the body read, parsed and checked.
4. The cookie: its value's grammar, and UserCookie, which issues, reads and clears it.
5. Replies: the pages (html/, read once), their headers, the prebuilt replies, ROUTES.
6. Settings: the environment read into a Settings value; the key files.
7. Entry points: the log, the module's `application` (every WSGI server), the development server.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import errno
import hashlib
import hmac
import html
import io
import logging
import os
import re
import secrets
import stat
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from http import HTTPStatus
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING
from typing import Any
from typing import NamedTuple
from urllib.parse import quote
from urllib.parse import unquote
from urllib.parse import unquote_to_bytes

from gunicorn.http.errors import ParseException
from itsdangerous import BadSignature
from itsdangerous import TimestampSigner
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.http import dump_cookie
from werkzeug.http import parse_options_header
from werkzeug.sansio.http import parse_cookie
from werkzeug.wsgi import get_content_length

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse


# --- 1. Tunables ----------------------------------------------------------------------------------

COOKIE_NAME = "userID"
# Over https: with the __Host- prefix, browsers take the cookie only from this very host, Secure, with
# Path=/ and no Domain, so a sibling subdomain or a plain-http page cannot plant one.
SECURE_COOKIE_NAME = "__Host-userID"
# Separates these signatures from anything else signed with the same SECRET_KEY, and names the
# cookie's format: 1.0 signed the bare name with the salt "wsgiapp.userID", and its cookie for a name
# like "alice.axGQDg" would read as this format's cookie for "alice".
COOKIE_SALT = "wsgiapp.userID.timed"
MAX_NAME_LENGTH = 64
MAX_BODY_SIZE = 16 * 1024
# Parts of a multipart form, fields of an urlencoded one.
MAX_FORM_PARTS = 8
# The oldest cookie the server accepts: COOKIE_MAX_AGE when set, else 31 days (Flask's session
# lifetime), whatever the browser kept. COOKIE_MAX_AGE is at most 400 days, the cap of RFC 6265bis
# and of Chrome.
DEFAULT_LIFETIME = 31 * 24 * 3600
MAX_COOKIE_AGE = 400 * 24 * 3600
# Instances' clocks differ: a cookie stamped up to this many seconds ahead of this one's is accepted.
CLOCK_SKEW = 60
# Shorter keys are accepted, with a warning.
MIN_KEY_LENGTH = 32

log = logging.getLogger("wsgiapp")

Environ = dict[str, Any]
Headers = list[tuple[str, str]]


class Reply(NamedTuple):
    status: HTTPStatus
    headers: Headers
    body: bytes


Handler = Callable[[Environ, "App"], Reply]


# --- 2. The request -------------------------------------------------------------------------------


class App:
    """The WSGI application: the routes, and the user cookie made from the settings."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.cookie = UserCookie(settings, clock)

    def __call__(self, environ: Environ, start_response: StartResponse) -> list[bytes]:
        """The WSGI entry point: the route's answer, a refusal's page, or a plain 500."""
        route = ROUTES.get(environ.get("PATH_INFO") or "/")
        exc_info = None
        try:
            reply = dispatch(environ, route, self)
        except Refusal as refusal:
            reply = html_reply(refusal.status, refusal.page(), refusal.headers)
        except Exception:
            log.exception("wsgiapp: %s %s failed", environ["REQUEST_METHOD"], environ.get("PATH_INFO"))
            exc_info = sys.exc_info()
            reply = SERVER_ERROR_REPLY
        # A copy of the headers: PEP 3333 lets the server change the list, and some replies are built once.
        headers = [*reply.headers, *PRIVATE] if route is not None and route.private else list(reply.headers)
        start_response(STATUS_LINES[reply.status], headers, exc_info)
        if environ["REQUEST_METHOD"] == "HEAD":
            return []
        return [reply.body]


class Refusal(Exception):
    """A request the app refuses, raised where the fault is found: App.__call__ answers it with its
    status and the message page that says what to do."""

    def __init__(self, status: HTTPStatus, message: str, headers: Headers | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []

    def page(self) -> bytes:
        return render(MESSAGE_PAGE, title=STATUS_LINES[self.status], message=self.message)


class NameRefusal(Refusal):
    """A name the form refuses: 400, and the form again, the field showing what it can of the name."""

    def __init__(self, message: str, typed: str) -> None:
        super().__init__(HTTPStatus.BAD_REQUEST, message)
        self.typed = typed

    def page(self) -> bytes:
        return render(INDEX_PAGE, name=self.typed, error=self.message, invalid="true")


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def dispatch(environ: Environ, route: Route | None, app: App) -> Reply:
    """The reply of the route's handler for the request's method (204 to OPTIONS); else a refusal:
    404, 405, and 403 to a post from another site, before any handler runs."""
    if route is None:
        raise Refusal(
            HTTPStatus.NOT_FOUND, "There is no page at this address. Check it, or start from the form."
        )
    method = environ["REQUEST_METHOD"]
    handler = route.methods.get("GET" if method == "HEAD" else method)
    if handler is None:
        allow = [("Allow", route.allow)]
        if method == "OPTIONS":
            return Reply(HTTPStatus.NO_CONTENT, [*allow, *SECURITY_HEADERS], b"")
        message = "This page cannot be opened this way. Start from the form."
        raise Refusal(HTTPStatus.METHOD_NOT_ALLOWED, message, allow)
    if method not in SAFE_METHODS and is_cross_origin(environ):
        raise Refusal(HTTPStatus.FORBIDDEN, "Cross-site form posts are refused.")
    return handler(environ, app)


DEFAULT_PORTS = {"http": ":80", "https": ":443"}


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


def fixed(reply: Reply) -> Handler:
    """A handler that gives every request the same prebuilt reply."""

    def handler(environ: Environ, app: App) -> Reply:
        return reply

    return handler


def set_cookie(environ: Environ, app: App) -> Reply:
    names = read_form(environ).getlist("nm")
    error = name_error(names)
    if error is not None:
        typed = shown_again(names[0]) if names else ""
        if names and typed != names[0]:
            error += " The field shows it without the characters that cannot be shown."
        raise NameRefusal(error, typed)
    return html_reply(HTTPStatus.OK, READCOOKIE_BODY, [app.cookie.issue(environ, names[0])])


def get_cookie(environ: Environ, app: App) -> Reply:
    name, clear = app.cookie.read(environ)
    if name is not None:
        return html_reply(HTTPStatus.OK, render(WELCOME_PAGE, name=name))
    if clear:
        return html_reply(HTTPStatus.OK, NOUSER_BODY, [app.cookie.clear(environ)])
    return NOUSER_REPLY


def delete_cookie(environ: Environ, app: App) -> Reply:
    return redirect_reply("/", [app.cookie.clear(environ)])


# --- 3. The form ----------------------------------------------------------------------------------

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
FORM_TYPES = frozenset({URLENCODED, MULTIPART})
# What a server's wsgi.input raises on a body the client broke: OSError for a dropped connection,
# Werkzeug's dev server's bad chunks and gunicorn's NoMoreData; gunicorn's ParseException for the
# rest of its chunked framing (InvalidChunkSize, ChunkMissingTerminator, bad trailers).
BROKEN_BODY = (OSError, ParseException)
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


class UnreadableForm(Refusal):
    def __init__(self) -> None:
        super().__init__(HTTPStatus.BAD_REQUEST, "The form could not be read.")


class FormTooLarge(Refusal):
    def __init__(self) -> None:
        message = f"The form may hold at most {MAX_BODY_SIZE} bytes in {MAX_FORM_PARTS} parts."
        super().__init__(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, message)


# A percent-escape of a byte from 0x80 up: only such an escape can make a form that is not UTF-8.
HIGH_ESCAPE = re.compile(rb"%[89A-Fa-f][0-9A-Fa-f]")


def read_form(environ: Environ) -> MultiDict[str, str]:
    """The body parsed as a form; a Refusal that says why if it is not one."""
    mimetype, options = parse_options_header(environ.get("CONTENT_TYPE"))
    # Media types are case-insensitive (RFC 9110, section 8.3.1); Werkzeug lowercases the options' names.
    mimetype = mimetype.lower()
    if mimetype not in FORM_TYPES:
        raise Refusal(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "Send the form as application/x-www-form-urlencoded or multipart/form-data.",
        )
    content_length = get_content_length(environ)
    if content_length is not None and content_length > MAX_BODY_SIZE:
        raise FormTooLarge
    try:
        body = read_body(environ, content_length)
    except BROKEN_BODY:
        raise UnreadableForm from None
    if len(body) > MAX_BODY_SIZE:
        raise FormTooLarge
    if content_length is not None and len(body) < content_length:
        raise Refusal(HTTPStatus.BAD_REQUEST, "The form ended before its announced length.")
    if mimetype == MULTIPART:
        # Every byte UTF-8, as the urlencoded parser requires: Werkzeug's multipart parser would decode
        # a field that is not with "replace" (U+FFFD), or as Latin-1 where the part says so.
        try:
            body.decode()
        except UnicodeDecodeError:
            raise UnreadableForm from None
    else:
        # Counted as parse_qsl's max_num_fields counts: Werkzeug's max_form_parts is for multipart only.
        if body.count(b"&") >= MAX_FORM_PARTS:
            raise FormTooLarge
        # Werkzeug keeps a %XX escape that is not UTF-8 as its literal text ("al%FFice"): refused here,
        # as raw bytes that are not UTF-8 are by the parser. A form without HIGH_ESCAPE (most) is not
        # decoded twice.
        if HIGH_ESCAPE.search(body):
            try:
                unquote_to_bytes(body).decode()
            except UnicodeDecodeError:
                raise UnreadableForm from None
    try:
        _, form, files = FORM_PARSER.parse(io.BytesIO(body), mimetype, len(body), options)
    except RequestEntityTooLarge:
        raise FormTooLarge from None
    except ValueError:
        # A malformed multipart body, or bytes that are not UTF-8 (UnicodeDecodeError).
        raise UnreadableForm from None
    for upload in files.values():
        upload.close()
    return form


# Cc: C0 and C1 controls (CR, LF, NUL, DEL...); Cs: lone surrogates, which cannot be encoded.
FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs"})
# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt, Unicode 15.1): characters drawn as
# nothing (zero-width space, word joiner, soft hyphen, BOM, fillers, variation selectors, tags...). It
# holds every Bidi_Control character (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), which
# reorder the text around them (CVE-2021-42574). A name with one would look like another name.
DEFAULT_IGNORABLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
ZERO_WIDTH_JOINER = "\u200d"
VARIATION_SELECTORS = "\ufe0e\ufe0f"
# Emoji (Symbol, other) and the skin tones that modify them (Symbol, modifier).
EMOJI_CATEGORIES = frozenset({"So", "Sk"})


def ends_in_emoji(text: str) -> bool:
    return text != "" and unicodedata.category(text[-1]) in EMOJI_CATEGORIES


def in_emoji_sequence(name: str, at: int) -> bool:
    """Whether name[at], a joiner or a variation selector, is part of an emoji sequence (Unicode TS #51):
    a variation selector right after an emoji ("❤️"), a joiner between two ("👩‍💻"), the first of
    which may carry its variation selector."""
    if name[at] in VARIATION_SELECTORS:
        return ends_in_emoji(name[:at])
    followed = at + 1 < len(name) and unicodedata.category(name[at + 1]) in EMOJI_CATEGORIES
    # One variation selector, not more, may stand between the first emoji and the joiner.
    first = at - 1 if at and name[at - 1] in VARIATION_SELECTORS else at
    return followed and ends_in_emoji(name[:first])


def hidden_characters(name: str) -> Iterator[int]:
    """Where name has a character that is drawn as nothing or reorders the text, but for the joiners
    and variation selectors of emoji sequences."""
    for match in DEFAULT_IGNORABLE.finditer(name):
        char = match.group()
        if char not in ZERO_WIDTH_JOINER + VARIATION_SELECTORS or not in_emoji_sequence(name, match.start()):
            yield match.start()


def hidden_character(name: str) -> str | None:
    """The first of name's hidden characters (hidden_characters), None if there is none."""
    at = next(hidden_characters(name), None)
    return None if at is None else name[at]


def shown_again(name: str) -> str:
    """A refused name as the form shows it again: without its control characters, then without the
    characters that are drawn as nothing or reorder the text (a page must not show them)."""
    name = "".join(char for char in name if unicodedata.category(char) not in FORBIDDEN_CATEGORIES)
    hidden = set(hidden_characters(name))
    return "".join(char for at, char in enumerate(name) if at not in hidden)


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
    # Every invisible character is outside ASCII: most names are not looked at again.
    hidden = None if name.isascii() else hidden_character(name)
    if hidden is not None:
        what = unicodedata.name(hidden, "an unassigned character")
        return (
            "The user ID must not contain characters that are invisible or reorder the text:"
            f" U+{ord(hidden):04X} {what}."
        )
    return None


# --- 4. The cookie --------------------------------------------------------------------------------

# RFC 6265, section 4.1.1: cookie-octet.
COOKIE_OCTET = r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]"
# The cookie-octets quote() must be told to keep, less "%", which escapes everything else as the
# percent-encoded UTF-8 bytes (quote() keeps letters, digits and "_.-~" anyway). A name made of
# cookie-octets other than "%" is sent as it is.
COOKIE_SAFE = "!#$&'()*+/:<=>?@[]^`{|}"
# A cookie value exactly as the app issues it: the encoded name, ".", the time it was issued, ".", the
# signature. Both are unpadded base64url whose last character carries zero bits past the data: the
# time, 4 bytes (32 bits in 6 characters, the last 4 bits zero, until 2106); the HMAC-SHA256, 32
# bytes (256 bits in 43 characters, the last 2 bits zero). Any other spelling of the same bytes
# (padding, "+/", other low bits, a leading zero byte) is refused before it is unsigned.
TIMESTAMP = r"[A-Za-z0-9_-]{5}[AQgw]"
SIGNATURE = r"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]"
COOKIE_VALUE = re.compile(rf"{COOKIE_OCTET}+\.{TIMESTAMP}\.{SIGNATURE}")


def derived_keys(keys: Sequence[str]) -> list[bytes]:
    """The keys as itsdangerous's "hmac" key derivation makes them, last first, as it wants them.

    That derivation would compute HMAC(key, salt) on every sign and unsign; it depends on nothing
    else, so it is done here, once per key, and handed over with derivation "none". The signatures
    are the same bytes, so cookies signed either way verify. itsdangerous signs with the last key
    and tries them all, last first. Over HTTP, itsdangerous's own derivation costs a gunicorn worker
    2% more CPU per request on GET /getcookie and 1 to 3% on POST /setcookie (two runs:
    bench/README.md, Hand-written parts).
    """
    return [hmac.new(key.encode(), COOKIE_SALT.encode(), hashlib.sha256).digest() for key in reversed(keys)]


class CookieSigner(TimestampSigner):
    """itsdangerous's TimestampSigner (HMAC-SHA256 over the value and the time it was signed, with
    the first key), on the app's clock, which a test can set."""

    def __init__(self, keys: Sequence[str], clock: Callable[[], float]) -> None:
        super().__init__(derived_keys(keys), key_derivation="none", digest_method=hashlib.sha256)
        self.clock = clock

    def get_timestamp(self) -> int:
        return int(self.clock())


def encode_name(name: str) -> str:
    """The name in cookie-octets only, so that dump_cookie never quotes it: "José" -> "Jos%C3%A9"."""
    return quote(name, safe=COOKIE_SAFE)


def user_cookie_values(environ: Environ) -> list[str]:
    """The values of the user cookie in the Cookie header, found as a browser writes the header
    (RFC 6265, section 5.4): `name=value` pairs, each after the start or a ";" and spaces.

    The user cookie's own pairs are found first, and only they go to Werkzeug's parse_cookie. Other
    sites of this host set cookies of their own, in any bytes and any number, and parse_cookie over the
    whole header would let them in: it reads a `"` in any value as the start of a quoted string that
    runs on across ";" (a neighbour's `a="` swallows the user's pair), and it parses every neighbour,
    the time growing with them. No "," splits a pair either: a neighbour's value never becomes a user
    cookie. The header comes as the server hands it over (each byte one character, PEP 3333).
    """
    header = environ.get("HTTP_COOKIE", "")
    name = cookie_name(environ)
    key = name + "="
    pairs = []
    start = header.find(key)
    while start != -1:
        before = start
        while before and header[before - 1] in " \t":
            before -= 1
        if not before or header[before - 1] == ";":
            end = header.find(";", start)
            pairs.append(header[start:] if end == -1 else header[start:end])
        start = header.find(key, start + len(key))
    return parse_cookie("; ".join(pairs)).getlist(name)


def is_https(environ: Environ) -> bool:
    return environ.get("wsgi.url_scheme") == "https"


def cookie_name(environ: Environ) -> str:
    return SECURE_COOKIE_NAME if is_https(environ) else COOKIE_NAME


class UserCookie:
    """The user cookie, issued, read and cleared here: the name it holds, signed with the time by
    itsdangerous's TimestampSigner with the settings' keys, on a clock a test can set; the lifetime
    the browser is told, and the oldest cookie the server accepts."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.signer = CookieSigner(settings.keys, clock)
        # On a clock CLOCK_SKEW seconds ahead, unsign(max_age=lifetime + CLOCK_SKEW) accepts a cookie
        # stamped from lifetime seconds ago to CLOCK_SKEW seconds ahead of this instance's clock.
        self.verifier = CookieSigner(settings.keys, lambda: clock() + CLOCK_SKEW)
        # The browser's Max-Age (None: until it closes), and the oldest cookie the server accepts.
        self.max_age = settings.max_age
        self.lifetime = settings.max_age or DEFAULT_LIFETIME

    def issue(self, environ: Environ, name: str) -> tuple[str, str]:
        """The Set-Cookie header that gives the browser this name, signed now."""
        value = self.signer.sign(encode_name(name)).decode()
        return self.header(environ, value, max_age=self.max_age)

    def read(self, environ: Environ) -> tuple[str | None, bool]:
        """The user ID that the request's cookie verifiably holds, if any, and whether a bad cookie
        should be cleared."""
        values = user_cookie_values(environ)
        if not values:
            return None, False
        if len(values) > 1:
            # Two cookies of one name (another Path, a parent Domain): one was planted, and the
            # header does not say which. Neither names a user, whichever of them would verify.
            return None, True
        name = self.name_in(values[0])
        # A comma, which no cookie of the app's holds, comes from two Cookie lines the server joined
        # (RFC 9110, section 5.3; gunicorn joins them with ","): the value may hold the user's good
        # cookie, and it is not cleared. Neither is it read: a browser sends one Cookie line (RFC 6265,
        # section 5.4), and the pieces cannot be told apart.
        return name, name is None and "," not in values[0]

    def clear(self, environ: Environ) -> tuple[str, str]:
        """The Set-Cookie header that makes the browser drop the cookie."""
        # Expired at the epoch, so that a client whose clock runs slow drops it too.
        return self.header(environ, "", max_age=0, expires=0)

    def name_in(self, value: str) -> str | None:
        """The name in a cookie value that the app issued, spelled exactly as it issued it, at most
        self.lifetime seconds ago or up to CLOCK_SKEW seconds ahead (another instance's clock); else
        None.
        """
        if not COOKIE_VALUE.fullmatch(value):
            return None
        try:
            encoded = self.verifier.unsign(value, max_age=self.lifetime + CLOCK_SKEW).decode()
            name = unquote(encoded, errors="strict")
        except (BadSignature, UnicodeError):
            return None
        # The signature holds, but a cookie signed before names were encoded may spell its name
        # otherwise ("100%", "%41" for "A"): only the app's own spelling of a name it accepts names a user.
        return name if encode_name(name) == encoded and name_error([name]) is None else None

    @staticmethod
    def header(
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


# --- 5. Replies -----------------------------------------------------------------------------------


def find_templates(here: Path) -> Path:
    """html/ beside this file in the repository (and an editable install); installed from a wheel, the
    same files are the folder wsgiapp_html/ beside it (setup.cfg)."""
    for folder in (here / "html", here / "wsgiapp_html"):
        if folder.is_dir():
            return folder
    raise ImportError(
        f"wsgiapp cannot find its templates: neither {here / 'html'} nor {here / 'wsgiapp_html'} exists."
        " Install it from its repository, or from a wheel built there."
    )


HTML_DIR = find_templates(Path(__file__).parent)
# Pages: html/layout.html around a fragment of html/, in string.Template's syntax, compiled once at
# import into the texts between the names a request fills in. Template.substitute on every request
# costs a gunicorn worker 3% more CPU per request on GET /getcookie over HTTP (two runs; 0 to 1% on
# POST /setcookie): bench/README.md, Hand-written parts.
STYLE = (HTML_DIR / "style.css").read_text("utf-8")
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
LAYOUT = (HTML_DIR / "layout.html").read_text("utf-8")


class Page(NamedTuple):
    # The page around the names a request fills in: texts[0], names[0], texts[1], ... texts[-1].
    texts: tuple[str, ...]
    names: tuple[str, ...]


def escape_all(values: Mapping[str, str]) -> dict[str, str]:
    """Every value that goes into a page is escaped here, and only here."""
    return {key: html.escape(value) for key, value in values.items()}


def load_page(name: str, **constants: str) -> Page:
    """html/<name>.html in place of the layout's $main, compiled: read once, here.

    The two texts are joined as templates, and each $ is read once: $$ in either file is a literal
    $, and the style and the constants (escaped) are filled in now. The $names left are the
    request's: render fills them in between the texts.
    """
    main = (HTML_DIR / f"{name}.html").read_text("utf-8")
    text = Template.pattern.sub(lambda match: main if match["named"] == "main" else match[0], LAYOUT)
    known = {"style": STYLE, **escape_all(constants)}
    texts, names, done = [""], [], 0
    for match in Template.pattern.finditer(text):
        texts[-1] += text[done : match.start()]
        done = match.end()
        key = match["named"] or match["braced"]
        if match["escaped"] is not None:
            texts[-1] += "$"
        elif key in known:
            texts[-1] += known[key]
        elif key is not None:
            names.append(key)
            texts.append("")
        else:
            raise ValueError(f"html/{name}.html or html/layout.html: a $ at {match.start()} names nothing")
    texts[-1] += text[done:]
    return Page(tuple(texts), tuple(names))


def render(page: Page, **values: str) -> bytes:
    """The page with the request's values, escaped, in place of its $names."""
    escaped = escape_all(values)
    filled = [page.texts[0]]
    for key, text in zip(page.names, page.texts[1:], strict=True):
        filled += (escaped[key], text)
    return "".join(filled).encode()


# No script at all (script-src falls back to default-src 'none'); the one stylesheet by its hash; the
# declared icon. connect-src 'self' opens nothing while no script runs, and lets tools that fetch from
# inside the page read /robots.txt (Lighthouse's robots.txt check does).
CSP = (
    f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
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


def html_reply(status: HTTPStatus, body: bytes, extra: Iterable[tuple[str, str]] = ()) -> Reply:
    """An HTML answer with every header a page carries."""
    return Reply(status, [*PAGE_HEADERS, *extra, ("Content-Length", str(len(body)))], body)


def redirect_reply(location: str, extra: Iterable[tuple[str, str]] = ()) -> Reply:
    """303 See Other: the browser follows with a GET."""
    body = render(MESSAGE_PAGE, title="See Other", message=f"Continue to {location}")
    return html_reply(HTTPStatus.SEE_OTHER, body, [("Location", location), *extra])


def file_reply(name: str, content_type: str) -> Reply:
    """A file of html/ as it is; clients may keep it a day."""
    body = (HTML_DIR / name).read_bytes()
    headers = [("Content-Type", content_type), *SECURITY_HEADERS, ("Cache-Control", "public, max-age=86400")]
    return Reply(HTTPStatus.OK, [*headers, ("Content-Length", str(len(body)))], body)


# The templates a request fills in, and every reply that never changes, made once.
INDEX_PAGE = load_page("index", title="Enter userID", max_length=str(MAX_NAME_LENGTH))
WELCOME_PAGE = load_page("welcome", title="Welcome")
MESSAGE_PAGE = load_page("message")
READCOOKIE_BODY = render(load_page("readcookie", title="Cookie set"))
NOUSER_BODY = render(load_page("nouser", title="No user is set"))
INDEX_REPLY = html_reply(HTTPStatus.OK, render(INDEX_PAGE, name="", error="", invalid="false"))
NOUSER_REPLY = html_reply(HTTPStatus.OK, NOUSER_BODY)
HOME_REPLY = redirect_reply("/")
SERVER_ERROR_REPLY = html_reply(
    HTTPStatus.INTERNAL_SERVER_ERROR,
    render(
        MESSAGE_PAGE,
        title=STATUS_LINES[HTTPStatus.INTERNAL_SERVER_ERROR],
        message="Something went wrong on our side.",
    ),
)
# What browsers and crawlers ask for: the icon the pages declare, and the rules for crawlers.
FAVICON_REPLY = file_reply("favicon.svg", "image/svg+xml")
ROBOTS_REPLY = file_reply("robots.txt", "text/plain; charset=utf-8")


class Route(NamedTuple):
    # Method -> handler. HEAD is answered by the GET handler without the body.
    methods: dict[str, Handler]
    # A route that reads or writes the cookie: every answer it gives, whatever its status, carries
    # PRIVATE (App.__call__).
    private: bool = False

    @property
    def allow(self) -> str:
        """The Allow header's value: the route's methods, with OPTIONS, and HEAD where GET is."""
        names = {*self.methods, "OPTIONS"}
        if "GET" in names:
            names.add("HEAD")
        return ", ".join(sorted(names))


ROUTES = {
    "/": Route({"GET": fixed(INDEX_REPLY)}),
    "/setcookie": Route({"GET": fixed(HOME_REPLY), "POST": set_cookie}, private=True),
    "/getcookie": Route({"GET": get_cookie}, private=True),
    "/deletecookie": Route({"POST": delete_cookie}, private=True),
    "/favicon.svg": Route({"GET": fixed(FAVICON_REPLY)}),
    "/robots.txt": Route({"GET": fixed(ROBOTS_REPLY)}),
}


# --- 6. Settings ----------------------------------------------------------------------------------


class SettingsError(ValueError):
    """A setting the app refuses; the message names the variable and says what is wrong."""


class Settings(NamedTuple):
    # The first key signs; every one verifies, so that older keys keep their cookies valid.
    keys: tuple[str, ...]
    # Seconds until the browser drops the cookie; None: when it closes.
    max_age: int | None = None


def check_key(key: str, what: str) -> str:
    """Refuse a key that could not be written down unchanged: in SECRET_KEY_FALLBACKS or a key file."""
    if not key:
        raise SettingsError(f"{what} is empty")
    if key != key.strip():
        raise SettingsError(f"{what} has whitespace at its start or end")
    if "," in key:
        raise SettingsError(f"{what} holds a comma, so it could not be listed in SECRET_KEY_FALLBACKS")
    if not key.isprintable():
        raise SettingsError(
            f"{what} holds a character that is not printable: a control character, or a space other than"
            " the ASCII one (no-break, zero-width...)"
        )
    if len(key) < MIN_KEY_LENGTH:
        log.warning(
            "wsgiapp: %s has %d characters: use at least %d random ones", what, len(key), MIN_KEY_LENGTH
        )
    return key


def check_private(info: os.stat_result, what: str) -> None:
    """Refuse a key file, or the folder of the generated one, that others than its owner can write."""
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise SettingsError(f"{what} can be written by others than its owner: chmod go-w it")


def check_owned(info: os.stat_result, what: str) -> None:
    """Refuse the generated key file, or its folder, when another user made it."""
    if info.st_uid != os.geteuid():
        raise SettingsError(
            f"{what} belongs to user {info.st_uid}, not to user {os.geteuid()} who runs the app: remove it"
        )


# A key file is a few lines: anything larger is not one (SECRET_KEY_FILE=/var/log/syslog, a disk image).
MAX_KEY_FILE_SIZE = 64 * 1024


def shown(path: Path | str) -> str:
    """A path as a message shows it: as it is, or quoted where it holds a line break or another
    character that is not printable, so that the message stays one line."""
    text = str(path)
    return text if text.isprintable() else repr(text)


def read_key_file(path: Path, what: str, generated: bool = False) -> tuple[str, ...]:
    """The keys in a file, one a line: the first signs, the others still verify; blank lines are skipped.

    It must be a regular file, opened without blocking (a FIFO would wait for a writer forever), of at
    most MAX_KEY_FILE_SIZE bytes, owned by root or by the app's own user, and writable by nobody else:
    whoever can write it chooses the key. SECRET_KEY_FILE is read through symbolic links (systemd's
    credentials and Kubernetes' Secret volumes are links); the generated key file must be a file of
    the app's own user, not a link.
    """
    name = f"{what} {shown(path)}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | (os.O_NOFOLLOW if generated else 0))
    except OSError as error:
        reason = "it is a symbolic link" if generated and error.errno == errno.ELOOP else error.strerror
        raise SettingsError(f"{name} cannot be read: {reason}") from None
    except ValueError:  # a NUL, or a lone surrogate, in the name: no file can have that name
        raise SettingsError(f"{name} cannot be read: no file can have that name") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SettingsError(f"{name} is not a regular file (a folder, a FIFO, a device...)")
        data = os.read(fd, MAX_KEY_FILE_SIZE + 1)
    except OSError as error:
        raise SettingsError(f"{name} cannot be read: {error.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_KEY_FILE_SIZE:
        raise SettingsError(f"{name} is larger than {MAX_KEY_FILE_SIZE // 1024} KiB: it holds no keys")
    if generated:
        check_owned(info, name)
    elif info.st_uid not in (0, os.geteuid()):
        raise SettingsError(
            f"{name} belongs to user {info.st_uid}, who could choose the key: make it root's or user"
            f" {os.geteuid()}'s, who runs the app (chown)"
        )
    check_private(info, name)
    if info.st_mode & stat.S_IROTH:
        log.warning("wsgiapp: %s can be read by every user of the machine: chmod 600 it", name)
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise SettingsError(f"{name} is not UTF-8 text") from None
    keys = tuple(
        check_key(line, f"line {number} of {name}") for number, line in enumerate(lines, 1) if line.strip()
    )
    if not keys:
        raise SettingsError(f"{name} holds no key")
    return keys


def generated_key_path(env: Mapping[str, str]) -> Path:
    """$XDG_STATE_HOME/wsgiapp/secret_key, by default ~/.local/state/wsgiapp/secret_key."""
    state = env.get("XDG_STATE_HOME", "")
    if not os.path.isabs(state):
        home = env.get("HOME", "")
        if not os.path.isabs(home):
            raise SettingsError(
                "SECRET_KEY and SECRET_KEY_FILE are not set, and with no HOME there is no place to keep"
                " a generated key: set SECRET_KEY or SECRET_KEY_FILE"
            )
        state = os.path.join(home, ".local", "state")
    return Path(state, "wsgiapp", "secret_key")


def no_place_for(path: Path, error: Exception) -> SettingsError:
    reason = error.strerror if isinstance(error, OSError) else "no folder can have that name"
    return SettingsError(
        f"SECRET_KEY and SECRET_KEY_FILE are not set, and a generated key cannot be kept in {shown(path)}"
        f" ({reason}): set SECRET_KEY or SECRET_KEY_FILE"
    )


def generated_key(path: Path) -> tuple[str, ...]:
    """The key kept in path; the first process to ask makes it: random, mode 0600, written whole.

    Its folder must be the app's user's own, and writable by nobody else: whoever can write there
    can choose the key.
    """
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder = path.parent.stat()
    except (OSError, ValueError) as error:  # ValueError: a NUL in the name
        raise no_place_for(path, error) from None
    check_owned(folder, f"the generated key's folder {shown(path.parent)}")
    check_private(folder, f"the generated key's folder {shown(path.parent)}")
    if not os.path.lexists(path):
        try:
            # mkstemp: O_EXCL and mode 0600. The key is written to a file of its own, then linked to
            # its name, which fails if the name exists: of processes starting together exactly one
            # makes the key, and none can read a half-written one.
            fd, spare = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            try:
                with os.fdopen(fd, "w") as file:
                    file.write(secrets.token_hex(32) + "\n")
                with contextlib.suppress(FileExistsError):
                    os.link(spare, path)
            finally:
                os.unlink(spare)
        except OSError as error:
            raise no_place_for(path, error) from None
    return read_key_file(path, "the generated key file", generated=True)


def keys_from(env: Mapping[str, str]) -> tuple[str, ...]:
    key = env.get("SECRET_KEY", "")
    fallbacks = env.get("SECRET_KEY_FALLBACKS", "")
    key_file = env.get("SECRET_KEY_FILE", "")
    if key_file:
        for other in ("SECRET_KEY", "SECRET_KEY_FALLBACKS"):
            if env.get(other):
                raise SettingsError(
                    f"SECRET_KEY_FILE and {other} are both set: drop {other}, and keep every key in the"
                    " file, the one that signs first"
                )
        return read_key_file(Path(key_file), "SECRET_KEY_FILE")
    if key:
        older = fallbacks.split(",") if fallbacks else []
        return (
            check_key(key, "SECRET_KEY"),
            *(check_key(old, f"key {number} of SECRET_KEY_FALLBACKS") for number, old in enumerate(older, 1)),
        )
    if fallbacks:
        raise SettingsError("SECRET_KEY_FALLBACKS is set without SECRET_KEY, the key that signs: set both")
    path = generated_key_path(env)
    keys = generated_key(path)
    log.warning(
        "wsgiapp: SECRET_KEY and SECRET_KEY_FILE are not set: signing with the generated key in %s",
        shown(path),
    )
    return keys


def max_age_from(env: Mapping[str, str]) -> int | None:
    value = env.get("COOKIE_MAX_AGE", "")
    if not value:
        return None
    positive = f"COOKIE_MAX_AGE must be a positive whole number of seconds, not {value!r}"
    at_most = f"COOKIE_MAX_AGE may be at most {MAX_COOKIE_AGE} seconds (400 days)"
    if not (value.isascii() and value.isdigit()):
        raise SettingsError(positive)
    # int() refuses more than 4,300 digits with an error of its own, and the line would be as long.
    if len(value) > 20:
        raise SettingsError(f"{at_most}, not a number of {len(value)} digits")
    seconds = int(value)
    if not seconds:
        raise SettingsError(positive)
    if seconds > MAX_COOKIE_AGE:
        raise SettingsError(f"{at_most}, not {value}")
    return seconds


def settings_from(env: Mapping[str, str]) -> Settings:
    """The app's settings from environment variables (the README's Settings table), checked."""
    # COOKIE_MAX_AGE first: a bad one stops before a key file is made.
    max_age = max_age_from(env)
    return Settings(keys_from(env), max_age)


# gunicorn's exit status for an app that cannot load (see settings_or_exit).
APP_LOAD_ERROR = 4


def settings_or_exit(env: Mapping[str, str]) -> Settings:
    """settings_from(env); a bad setting stops the program with one line in the log, no traceback.

    The exit status is gunicorn's for an app that cannot load (4): a gunicorn master whose worker
    exits with it stops, where it would start another worker for any other status.
    """
    try:
        return settings_from(env)
    except SettingsError as error:
        log.error("wsgiapp: %s", error)
        raise SystemExit(APP_LOAD_ERROR) from None


# --- 7. Entry points ------------------------------------------------------------------------------


class GunicornErrorLog(logging.Handler):
    """Hands the app's lines to gunicorn's error log, which writes them as its own: in its format
    (time, process id, level), to its file or syslog, at its --log-level."""

    def emit(self, record: logging.LogRecord) -> None:
        error_log = logging.getLogger("gunicorn.error")
        if error_log.isEnabledFor(record.levelno):
            error_log.handle(record)


def log_handler() -> logging.Handler:
    """Where the app's lines go when nothing else takes them (as Flask's default handler): under
    gunicorn, once it has set up its logging, its error log; elsewhere stderr, which uWSGI,
    mod_wsgi, waitress and the development server each put in their own log."""
    if logging.getLogger("gunicorn.error").handlers:
        return GunicornErrorLog()
    return logging.StreamHandler()


def fingerprint(key: str) -> str:
    """A key's name in the log: 8 hex digits of its SHA-256, which tell nothing of the key."""
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def app_from(env: Mapping[str, str]) -> App:
    """The app for the settings in env, its keys named in the log; a bad setting stops the program
    as settings_or_exit says."""
    settings = settings_or_exit(env)
    signing, *older = settings.keys
    log.info(
        "wsgiapp: signing with key %s; older keys that verify: %s",
        fingerprint(signing),
        ", ".join(map(fingerprint, older)) or "none",
    )
    return App(settings)


# Every line the app writes goes through this log, with "wsgiapp: " before it.
if not log.hasHandlers():
    log.addHandler(log_handler())
if not log.level:
    log.setLevel(logging.INFO)

# What every WSGI server serves, found by its own loader: `gunicorn wsgiapp:application`, uWSGI's
# --module and --wsgi-file, mod_wsgi, waitress. Built when the module is imported, as Django's
# wsgi.py and Flask's `app = create_app()` are: a bad setting stops the import, so the server that
# loads it, with one line and exit status 4. Tests build apps of their own: App(settings, clock).
application = app_from(os.environ)


if __name__ == "__main__":
    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser(description="Run wsgiapp on Werkzeug's development server.")
    parser.add_argument("--host", default="localhost", help="address to listen on (default: localhost)")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on (default: 5000)")
    parser.add_argument("--no-reload", action="store_true", help="do not restart when the code changes")
    args = parser.parse_args()
    # The reloader restarts the server when a module or a template changes.
    run_simple(
        args.host,
        args.port,
        application,
        use_reloader=not args.no_reload,
        extra_files=[str(path) for path in HTML_DIR.iterdir()],
    )
