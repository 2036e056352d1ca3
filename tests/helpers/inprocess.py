"""The app called in this process: built from test settings, and called as a server calls it."""

import io
import logging
import warnings
from http import HTTPStatus
from wsgiref.validate import WSGIWarning
from wsgiref.validate import validator

from werkzeug.test import Client

import wsgiapp
from tests.helpers.answer import Answer
from tests.helpers.oracle import NOW
from tests.helpers.oracle import PAGE_HEADERS
from tests.helpers.oracle import PRIVATE
from tests.helpers.oracle import TEST_KEY


def run_app(app, environ) -> Answer:
    """One call of a WSGI app as a server makes it, through wsgiref's validator: the body read
    whole and close() called. A 500 comes back with its exc_info (Werkzeug's test client would
    raise it instead), and with what the app logged during the call (the wsgiapp logger)."""
    started = []
    logged = io.StringIO()
    handler = logging.StreamHandler(logged)
    logger = logging.getLogger("wsgiapp")

    def start_response(status, headers, exc_info=None):
        started.append((status, headers, exc_info))
        return lambda data: None

    logger.addHandler(handler)
    try:
        app_iter = validator(app)(environ, start_response)
        try:
            body = b"".join(app_iter)
        finally:
            app_iter.close()
    finally:
        logger.removeHandler(handler)
    ((status, headers, exc_info),) = started
    code, _, reason = status.partition(" ")
    return Answer(int(code), headers, body, reason, logged.getvalue(), exc_info)


class BufferedClient(Client):
    """A test client that reads every response whole and closes it, as the validator asks."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


def make_test_app(*keys: str, max_age: int | None = None, now: float = NOW) -> wsgiapp.App:
    """The app as a server's import builds it, with these keys (TEST_KEY if none), on a clock
    stopped at now."""
    return wsgiapp.App(wsgiapp.Settings(keys or (TEST_KEY,), max_age), clock=lambda: now)


# For tests that call the app directly: signs with TEST_KEY, session cookies.
TEST_APP = make_test_app()


def call(
    method: str = "GET",
    path: str = "/",
    body: bytes = b"",
    *,
    app: wsgiapp.App = TEST_APP,
    content_type: str | None = None,
    cookie: str | None = None,
    scheme: str = "http",
    chunked: bool = False,
    stream: io.IOBase | None = None,
    **environ: str | None,
) -> Answer:
    """One request as a server hands it over, through run_app. Text is what a server passes on
    (each byte a latin-1 character). The body comes with its own Content-Length; chunked: with none,
    and the stream ends where the body does, as gunicorn does. stream replaces the body's; environ
    adds to the environ or replaces in it, and a None there leaves that key out."""
    env = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "443" if scheme == "https" else "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "localhost",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": None if chunked else str(len(body)),
        "HTTP_COOKIE": cookie,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(body) if stream is None else stream,
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.input_terminated": chunked or None,
        **environ,
    }
    with warnings.catch_warnings():
        # The validator warns about methods it does not know; tests send them on purpose.
        warnings.filterwarnings("ignore", "Unknown REQUEST_METHOD", WSGIWarning)
        return run_app(app, {key: value for key, value in env.items() if value is not None})


class BodyStream(io.BytesIO):
    """A body as a server's wsgi.input gives it: at most piece bytes a read, if given (as from a
    socket); and once its bytes run out, error raised, if given (a body the client broke)."""

    def __init__(self, body: bytes, error: Exception | None = None, piece: int | None = None) -> None:
        super().__init__(body)
        self.error = error
        self.piece = piece

    def read(self, size: int | None = -1) -> bytes:
        if self.piece is not None:
            size = self.piece if size is None or size < 0 else min(size, self.piece)
        data = super().read(size)
        if not data and size != 0 and self.error is not None:
            raise self.error
        return data


# Through Werkzeug's test client (the client fixtures): its response, and a browser's cookie jar.


def submit_name(client: Client, name: str, **kwargs):
    """POST the form with this name."""
    return client.post("/setcookie", data={"nm": name}, **kwargs)


def assert_page(response, status: HTTPStatus, private: bool = False) -> str:
    """Check the status and every header a page carries (private: never cached); return the body."""
    assert response.status_code == status
    for name, value in PAGE_HEADERS:
        assert response.headers[name] == value
    body = response.get_data()
    assert response.headers["Content-Length"] == str(len(body))
    for name, value in PRIVATE:
        assert response.headers.get(name) == (value if private else None)
    text = body.decode()
    assert text.startswith('<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">')
    return text
