"""What the tests share: the app built from test settings, WSGI-level clients, and an oracle for the
cookie that is written here, independently of the app."""

import base64
import hashlib
import html
from pathlib import Path
from typing import NamedTuple
from wsgiref.validate import validator

import pytest
from itsdangerous import Signer
from werkzeug.test import Client

import wsgiapp

TEST_KEY = "test-secret-key"
# The repository's templates, read by the tests themselves.
HTML = Path(__file__).resolve().parent.parent / "html"
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
# RFC 6265, section 4.1.1: cookie-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E.
COOKIE_OCTETS = frozenset(
    [0x21, *range(0x23, 0x2C), *range(0x2D, 0x3B), *range(0x3C, 0x5C), *range(0x5D, 0x7F)]
)


def encoded(name: str) -> str:
    """The name as the cookie spells it: each UTF-8 byte that is a cookie-octet other than % as it
    is, every other one as %XX."""
    return "".join(chr(byte) if byte in COOKIE_OCTETS - {0x25} else f"%{byte:02X}" for byte in name.encode())


def sign_payload(payload: str, key: str = TEST_KEY, salt: str = "wsgiapp.userID") -> str:
    """payload and its signature, made here with itsdangerous, not by the app."""
    signer = Signer(key, salt=salt, key_derivation="hmac", digest_method=hashlib.sha256)
    return signer.sign(payload).decode()


def sign(name: str, key: str = TEST_KEY, salt: str = "wsgiapp.userID") -> str:
    """The cookie value the app must issue for this name."""
    return sign_payload(encoded(name), key, salt)


def signed(name: str, key: str = TEST_KEY, cookie: str = "userID") -> str:
    """The user cookie as a client sends it back: `userID=<value>`."""
    return f"{cookie}={sign(name, key)}"


def welcome(name: str) -> str:
    """The welcome page's heading for this name."""
    return f"<h1>welcome {html.escape(name)}</h1>"


class Served(NamedTuple):
    status: str
    headers: list[tuple[str, str]]
    body: bytes
    exc_info: object


def run_app(app, environ) -> Served:
    """One call of a WSGI app as a server makes it, through wsgiref's validator: the body read
    whole and close() called. A 500 comes back with its exc_info (Werkzeug's test client would
    raise it instead); the caller reads the log from environ["wsgi.errors"]."""
    started = []

    def start_response(status, headers, exc_info=None):
        started.append((status, headers, exc_info))
        return lambda data: None

    app_iter = validator(app)(environ, start_response)
    try:
        body = b"".join(app_iter)
    finally:
        app_iter.close()
    ((status, headers, exc_info),) = started
    return Served(status, headers, body, exc_info)


class BufferedClient(Client):
    """A test client that reads every response whole and closes it, as the validator asks."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


def make_test_app(*keys: str, max_age: int | None = None) -> wsgiapp.App:
    """The app as make_app builds it for a server, with these keys (TEST_KEY if none)."""
    return wsgiapp.make_app(wsgiapp.Settings(keys or (TEST_KEY,), max_age))


# For tests that call the app directly: signs with TEST_KEY, session cookies.
TEST_APP = make_test_app()


@pytest.fixture
def client():
    """A client for TEST_APP wrapped in wsgiref's validator, keeping cookies between requests."""
    return BufferedClient(validator(TEST_APP))


@pytest.fixture
def raw_client():
    """A client for TEST_APP that sends only the Cookie header a test gives it."""
    return BufferedClient(validator(TEST_APP), use_cookies=False)
