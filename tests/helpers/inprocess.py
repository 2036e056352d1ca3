"""The app called in this process: built from test settings, and called as a server calls it."""

import io
from wsgiref.validate import validator

from werkzeug.test import Client

import wsgiapp
from tests.helpers.answer import Answer
from tests.helpers.oracle import NOW
from tests.helpers.oracle import TEST_KEY


def run_app(app, environ) -> Answer:
    """One call of a WSGI app as a server makes it, through wsgiref's validator: the body read
    whole and close() called. A 500 comes back with its exc_info (Werkzeug's test client would
    raise it instead), and what the app logged, if environ["wsgi.errors"] is a StringIO."""
    started = []
    # Taken first: the validator replaces it in environ with its own wrapper.
    errors = environ["wsgi.errors"]

    def start_response(status, headers, exc_info=None):
        started.append((status, headers, exc_info))
        return lambda data: None

    app_iter = validator(app)(environ, start_response)
    try:
        body = b"".join(app_iter)
    finally:
        app_iter.close()
    ((status, headers, exc_info),) = started
    code, _, reason = status.partition(" ")
    log = errors.getvalue() if isinstance(errors, io.StringIO) else ""
    return Answer(int(code), headers, body, reason, log, exc_info)


class BufferedClient(Client):
    """A test client that reads every response whole and closes it, as the validator asks."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


def make_test_app(*keys: str, max_age: int | None = None, now: float = NOW) -> wsgiapp.App:
    """The app as make_app builds it for a server, with these keys (TEST_KEY if none), on a clock
    stopped at now."""
    return wsgiapp.make_app(wsgiapp.Settings(keys or (TEST_KEY,), max_age), clock=lambda: now)


# For tests that call the app directly: signs with TEST_KEY, session cookies.
TEST_APP = make_test_app()
