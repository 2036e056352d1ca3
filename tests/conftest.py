"""Fixtures shared by the tests: a WSGI-level client and fixed signing keys."""

import os

# Set before wsgiapp is imported, so the import neither warns nor makes a random key.
os.environ["SECRET_KEY"] = "test-secret-key"
os.environ.pop("SECRET_KEY_FALLBACKS", None)
os.environ.pop("COOKIE_MAX_AGE", None)

from wsgiref.validate import validator

import pytest
from werkzeug.test import Client

import wsgiapp

TEST_KEY = "test-secret-key"


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
