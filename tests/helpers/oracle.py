"""What the app must answer, written down here independently of the app: the cookie it issues
(encoded and signed with itsdangerous directly), the welcome heading, and the policy and Allow
values the README states."""

import base64
import hashlib
import html
import time
from pathlib import Path

from itsdangerous import TimestampSigner

ROOT = Path(__file__).resolve().parent.parent.parent
TEST_KEY = "test-secret-key"
# The time on the clock of the apps the tests build (tests.helpers.inprocess), and the time the oracle
# signs at unless told otherwise: this run's start, so that servers on the real clock accept it too.
NOW = int(time.time())
# The server's limit on a cookie's age when COOKIE_MAX_AGE is not set, and how far ahead of its
# clock a cookie may be stamped: 31 days and 60 s (README, Settings).
DEFAULT_LIFETIME = 31 * 24 * 3600
CLOCK_SKEW = 60
# The form's limits (README, Routes): 16 KiB, 8 fields or parts.
MAX_BODY_SIZE = 16 * 1024
MAX_FORM_PARTS = 8
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
# The attributes of every user cookie the app sets over http (README), and the cookie that clears it.
COOKIE_ATTRIBUTES = frozenset({"HttpOnly", "Path=/", "SameSite=Lax"})
CLEARED = frozenset({"userID=", "Expires=Thu, 01 Jan 1970 00:00:00 GMT", "Max-Age=0", *COOKIE_ATTRIBUTES})
# RFC 6265, section 4.1.1: cookie-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E.
COOKIE_OCTETS = frozenset(
    [0x21, *range(0x23, 0x2C), *range(0x2D, 0x3B), *range(0x3C, 0x5C), *range(0x5D, 0x7F)]
)


def encoded(name: str) -> str:
    """The name as the cookie spells it: each UTF-8 byte that is a cookie-octet other than % as it
    is, every other one as %XX."""
    return "".join(chr(byte) if byte in COOKIE_OCTETS - {0x25} else f"%{byte:02X}" for byte in name.encode())


def sign_payload(payload: str, key: str = TEST_KEY, salt: str = "wsgiapp.userID", at: int = NOW) -> str:
    """payload, the time at, and their signature, made here with itsdangerous, not by the app."""
    signer = TimestampSigner(key, salt=salt, key_derivation="hmac", digest_method=hashlib.sha256)
    signer.get_timestamp = lambda: at  # type: ignore[method-assign]
    return signer.sign(payload).decode()


def sign(name: str, key: str = TEST_KEY, salt: str = "wsgiapp.userID", at: int = NOW) -> str:
    """The cookie value the app must issue for this name at the time at."""
    return sign_payload(encoded(name), key, salt, at)


def signed(name: str, key: str = TEST_KEY, cookie: str = "userID", at: int = NOW) -> str:
    """The user cookie as a client sends it back: `userID=<value>`."""
    return f"{cookie}={sign(name, key, at=at)}"


def issued_at(cookie: str) -> int:
    """The time in a cookie value or `name=value` pair that a server on the real clock issued; it
    must be this minute's. (Its second field: the seconds in big-endian bytes, base64url unpadded.)"""
    stamp = cookie.split(".")[-2]
    at = int.from_bytes(base64.urlsafe_b64decode(stamp + "=" * (-len(stamp) % 4)), "big")
    assert abs(at - time.time()) < CLOCK_SKEW, f"{cookie} was issued at {at}, not now"
    return at


def welcome(name: str) -> str:
    """The welcome page's heading for this name."""
    return f"<h1>welcome {html.escape(name)}</h1>"
