"""What the app must answer, written down here independently of the app: the cookie it issues
(encoded and signed with itsdangerous directly), its pages (html/ filled in by string.Template), the
headers, and the limits, policy and Allow values the README states."""

import base64
import hashlib
import html
import re
import string
import time
from http import HTTPStatus
from pathlib import Path
from string import Template

from itsdangerous import Signer
from itsdangerous import TimestampSigner

ROOT = Path(__file__).resolve().parent.parent.parent
# The version, written once in setup.cfg (tests/test_version.py checks every other place).
VERSION = re.search(r"^version = (\S+)$", (ROOT / "setup.cfg").read_text(), re.M)[1]
# The keys the tests sign with: 32 characters, so that no server warns of a short key. OLD_KEY is a
# fallback that still verifies; NEW_KEY the key a rotation brings in.
TEST_KEY = "k" * 32
OLD_KEY = "o" * 32
NEW_KEY = "n" * 32
# The salt of the cookie's signature (docs/security.md): it names the format, name.time.signature.
COOKIE_SALT = "wsgiapp.userID.timed"
# 1.0's, for its untimed cookies.
SALT_1_0 = "wsgiapp.userID"
# The time on the clock of the apps the tests build (tests.helpers.inprocess), and the time the oracle
# signs at unless told otherwise: this run's start, so that servers on the real clock accept it too.
NOW = int(time.time())
# The server's limit on a cookie's age when COOKIE_MAX_AGE is not set, and how far ahead of its
# clock a cookie may be stamped: 31 days and 60 s (README, Settings).
DEFAULT_LIFETIME = 31 * 24 * 3600
CLOCK_SKEW = 60
# The form (README, Routes): its two media types, 16 KiB, 8 fields or parts, a name of 64 characters.
URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
MAX_BODY_SIZE = 16 * 1024
MAX_FORM_PARTS = 8
MAX_NAME_LENGTH = 64
# The repository's templates, read by the tests themselves.
HTML = ROOT / "html"
STYLE_HASH = base64.b64encode(hashlib.sha256((HTML / "style.css").read_bytes()).digest()).decode()
# The policy and the Allow value of every path, as the README states them: not taken from the app.
CSP = (
    f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
ALLOW = {
    "/": "GET, HEAD, OPTIONS",
    "/setcookie": "GET, HEAD, OPTIONS, POST",
    "/getcookie": "GET, HEAD, OPTIONS",
    "/deletecookie": "OPTIONS, POST",
    "/favicon.svg": "GET, HEAD, OPTIONS",
    "/robots.txt": "GET, HEAD, OPTIONS",
}
# The routes that read or write the cookie: every answer they give, whatever its status, is never
# cached and varies with the cookie (PRIVATE).
COOKIE_PATHS = frozenset({"/setcookie", "/getcookie", "/deletecookie"})
# The user cookie's name by scheme: over https, with the __Host- prefix (README).
COOKIE_NAMES = {"http": "userID", "https": "__Host-userID"}
# The attributes of every user cookie the app sets over http (README), in the order it writes them
# after the pair and any lifetime; the lifetime of the cookie that clears it, and that cookie's
# parts. Over https, Secure too.
ATTRIBUTES_IN_ORDER = ("HttpOnly", "Path=/", "SameSite=Lax")
COOKIE_ATTRIBUTES = frozenset(ATTRIBUTES_IN_ORDER)
SECURE_COOKIE_ATTRIBUTES = COOKIE_ATTRIBUTES | {"Secure"}
EXPIRED = ("Expires=Thu, 01 Jan 1970 00:00:00 GMT", "Max-Age=0")
CLEARED = frozenset({"userID=", *EXPIRED, *COOKIE_ATTRIBUTES})
CLEARED_HTTPS = frozenset({"__Host-userID=", *EXPIRED, *SECURE_COOKIE_ATTRIBUTES})
# RFC 6265, section 4.1.1: cookie-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E.
COOKIE_OCTETS = frozenset(
    [0x21, *range(0x23, 0x2C), *range(0x2D, 0x3B), *range(0x3C, 0x5C), *range(0x5D, 0x7F)]
)


# RFC 4648's base64url alphabet: itsdangerous spells the time and the signature in it, unpadded.
BASE64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


def base64url(data: bytes) -> str:
    """data as itsdangerous spells it: base64url without padding."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def from_base64url(text: str) -> bytes:
    """The bytes of unpadded base64url text."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def respelled(text: str, how: str) -> str:
    """Unpadded base64url text spelt another way that a lenient decoder reads as the same bytes (or,
    "zero byte", the same number): "padding" added, the standard "alphabet" (+ and / for - and _),
    other "low bits" in the last character (those decoding drops), or a leading "zero byte"."""
    if how == "padding":
        return text + "=" * (-len(text) % 4)
    if how == "alphabet":
        return text.replace("-", "+").replace("_", "/")
    if how == "low bits":
        return text[:-1] + BASE64URL[BASE64URL.index(text[-1]) ^ 1]
    assert how == "zero byte", how
    return base64url(b"\0" + from_base64url(text))


def encoded(name: str) -> str:
    """The name as the cookie spells it: each UTF-8 byte that is a cookie-octet other than % as it
    is, every other one as %XX."""
    return "".join(chr(byte) if byte in COOKIE_OCTETS - {0x25} else f"%{byte:02X}" for byte in name.encode())


def sign_payload(payload: str, key: str = TEST_KEY, salt: str = COOKIE_SALT, at: int = NOW) -> str:
    """payload, the time at, and their signature, made here with itsdangerous, not by the app."""
    signer = TimestampSigner(key, salt=salt, key_derivation="hmac", digest_method=hashlib.sha256)
    signer.get_timestamp = lambda: at  # type: ignore[method-assign]
    return signer.sign(payload).decode()


def sign(name: str, key: str = TEST_KEY, salt: str = COOKIE_SALT, at: int = NOW) -> str:
    """The cookie value the app must issue for this name at the time at."""
    return sign_payload(encoded(name), key, salt, at)


def untimed_signer(key: str = TEST_KEY, salt: str = COOKIE_SALT) -> Signer:
    """The app's signer without the time: what signs a payload whose time is spelt otherwise than the
    app spells it; with SALT_1_0, what signed 1.0's cookies, before they carried the time."""
    return Signer(key, salt=salt, key_derivation="hmac", digest_method=hashlib.sha256)


def signed(name: str, key: str = TEST_KEY, cookie: str = "userID", at: int = NOW) -> str:
    """The user cookie as a client sends it back: `userID=<value>`."""
    return f"{cookie}={sign(name, key, at=at)}"


def fingerprint(key: str) -> str:
    """How the log names a key: 8 hex digits of its SHA-256, never the key itself."""
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def keys_line(key: str, *older: str) -> str:
    """The line the app logs when it is built, naming the key that signs and the older ones."""
    names = ", ".join(map(fingerprint, older)) or "none"
    return f"wsgiapp: signing with key {fingerprint(key)}; older keys that verify: {names}"


def issued_at(cookie: str) -> int:
    """The time in a cookie value or `name=value` pair that a server on the real clock issued; it
    must be this minute's. (Its second field: the seconds in big-endian bytes, base64url unpadded.)"""
    at = int.from_bytes(from_base64url(cookie.split(".")[-2]), "big")
    assert abs(at - time.time()) < CLOCK_SKEW, f"{cookie} was issued at {at}, not now"
    return at


def welcome(name: str) -> str:
    """The welcome page's heading for this name."""
    return f"<h1>welcome {html.escape(name)}</h1>"


# The pages, and their headers in the order the app sends them.

SECURITY_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", CSP),
    ("Referrer-Policy", "same-origin"),
]
PAGE_HEADERS = [("Content-Type", "text/html; charset=utf-8"), *SECURITY_HEADERS]
# For answers that read or write the cookie; and for the files served as they are.
PRIVATE = [("Cache-Control", "no-store"), ("Vary", "Cookie")]
STATIC = ("Cache-Control", "public, max-age=86400")
STYLE = (HTML / "style.css").read_text("utf-8")


def set_cookie(*parts: str) -> tuple[str, str]:
    """The Set-Cookie header over http: these parts (the pair, any lifetime), then the attributes."""
    return ("Set-Cookie", "; ".join([*parts, *ATTRIBUTES_IN_ORDER]))


CLEAR_COOKIE = set_cookie("userID=", *EXPIRED)


def status_line(status: HTTPStatus) -> str:
    return f"{status.value} {status.phrase}"


def page(fragment: str, **values: str) -> bytes:
    """html/layout.html around html/<fragment>.html, filled in by string.Template, values escaped."""
    layout = (HTML / "layout.html").read_text("utf-8")
    text = layout.replace("$main", (HTML / f"{fragment}.html").read_text("utf-8"))
    return Template(text).substitute(style=STYLE, **{k: html.escape(v) for k, v in values.items()}).encode()


def index_page(error: str = "", typed: str = "") -> bytes:
    """The form; for a refused name, what the field shows of it, marked invalid, and the error below it."""
    invalid = "true" if error else "false"
    return page(
        "index",
        title="Enter userID",
        max_length=str(MAX_NAME_LENGTH),
        name=typed,
        error=error,
        invalid=invalid,
    )


def welcome_page(name: str) -> bytes:
    return page("welcome", title="Welcome", name=name)


INDEX = index_page()
NOUSER = page("nouser", title="No user is set")
REDIRECT = page("message", title="See Other", message="Continue to /")


def page_headers(body: bytes, *extra: tuple[str, str]) -> list[tuple[str, str]]:
    """Every header of a page, in order."""
    return [*PAGE_HEADERS, *extra, ("Content-Length", str(len(body)))]


def private_headers(body: bytes, *extra: tuple[str, str]) -> list[tuple[str, str]]:
    """Every header of a page of the cookie's routes, in order: never cached, whatever its status."""
    return [*page_headers(body, *extra), *PRIVATE]


# Exact answers, as Answer.exact spells them: (status line, headers, body).


# What the 404 and 405 pages say: what a person can do, not the methods a path takes (Allow says those).
NOT_FOUND = "There is no page at this address. Check it, or start from the form."
NOT_ALLOWED = "This page cannot be opened this way. Start from the form."


def message_answer(status: HTTPStatus, text: str, *extra: tuple[str, str]) -> tuple[str, list, bytes]:
    """The message page that says text."""
    body = page("message", title=status_line(status), message=text)
    return status_line(status), page_headers(body, *extra), body


def private(answer: tuple[str, list, bytes]) -> tuple[str, list, bytes]:
    """The answer as a route of the cookie's gives it: never cached, whatever its status."""
    status, headers, body = answer
    return status, [*headers, *PRIVATE], body


def refusal(status: HTTPStatus, text: str) -> tuple[str, list, bytes]:
    """A refusal on a route of the cookie's: the message page, never cached."""
    return private(message_answer(status, text))


def form_again(error: str, typed: str = "") -> tuple[str, list, bytes]:
    """A bad name: 400, the form again with what the field shows of it, and the error."""
    body = index_page(error, typed)
    return status_line(HTTPStatus.BAD_REQUEST), private_headers(body), body


def login_answer(name: str, key: str = TEST_KEY) -> tuple[str, list, bytes]:
    """The form with this name, over http: a session cookie signed at NOW, and the page that says so."""
    body = page("readcookie", title="Cookie set")
    return "200 OK", private_headers(body, set_cookie(f"userID={sign(name, key)}")), body


def welcome_answer(name: str) -> tuple[str, list, bytes]:
    """/getcookie with the cookie of this user."""
    body = welcome_page(name)
    return "200 OK", private_headers(body), body


# /getcookie with a cookie it refuses: no user, and the cookie cleared.
CLEARED_ANSWER = ("200 OK", private_headers(NOUSER, CLEAR_COOKIE), NOUSER)
SERVER_ERROR = message_answer(HTTPStatus.INTERNAL_SERVER_ERROR, "Something went wrong on our side.")
