"""Fixtures shared by the tests: a WSGI-level client and fixed signing keys."""

import os

# Set before wsgiapp is imported, so the import neither warns nor makes a random key.
os.environ["SECRET_KEY"] = "test-secret-key"
os.environ.pop("SECRET_KEY_FALLBACKS", None)
os.environ.pop("COOKIE_MAX_AGE", None)

import hashlib
import html
from wsgiref.validate import validator

import pytest
from itsdangerous import Signer
from werkzeug.test import Client

import wsgiapp

TEST_KEY = "test-secret-key"
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


class BufferedClient(Client):
    """A test client that reads every response whole and closes it, as the validator asks."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


@pytest.fixture(autouse=True)
def signer(monkeypatch):
    """Sign with TEST_KEY and no fallbacks, whatever the environment says."""
    signer = wsgiapp.make_signer(TEST_KEY)
    monkeypatch.setattr(wsgiapp, "SIGNER", signer)
    monkeypatch.setattr(wsgiapp, "COOKIE_MAX_AGE", None)
    return signer


@pytest.fixture
def client():
    """A client for the app wrapped in wsgiref's validator, keeping cookies between requests."""
    return BufferedClient(validator(wsgiapp.application))
