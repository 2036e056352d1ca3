"""The fixtures: WSGI-level clients of the app built from test settings (tests.helpers has the rest)."""

from wsgiref.validate import validator

import pytest

from tests.helpers.inprocess import TEST_APP
from tests.helpers.inprocess import BufferedClient


@pytest.fixture
def client():
    """A client for TEST_APP wrapped in wsgiref's validator, keeping cookies between requests."""
    return BufferedClient(validator(TEST_APP))


@pytest.fixture
def raw_client():
    """A client for TEST_APP that sends only the Cookie header a test gives it."""
    return BufferedClient(validator(TEST_APP), use_cookies=False)
