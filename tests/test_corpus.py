"""Bad input over real HTTP: raw bytes to the real gunicorn, with the status each case must get.

Only what the server decides, or hands over in a way of its own: the request line, the headers and
their limits, a body's framing (chunked, a Content-Length that lies, none), a path's escapes, the
framing of a HEAD's and a 204's answers, and the served app's cookie lifetime on the system's clock.
What the app alone makes of what it is handed (forms, names, cookies, routes, cross-site posts) is
checked in process: tests/test_form.py, test_cookie.py, test_cookie_lifetime.py, test_pages.py,
test_cross_site.py and test_properties.py.

One gunicorn (the repository's gunicorn.conf.py) serves the whole module. After every case the
server must still answer a normal request with the same workers it started with, and its log must
show no error, traceback or worker restart.
"""

import html
import re
import time
from collections.abc import Callable
from typing import NamedTuple

import pytest

from bench.servers import children
from tests.helpers.answer import attributes
from tests.helpers.answer import parse_response
from tests.helpers.answer import send_raw
from tests.helpers.forms import form_of_size
from tests.helpers.forms import multipart
from tests.helpers.live import live_server
from tests.helpers.oracle import CLEARED
from tests.helpers.oracle import COOKIE_ATTRIBUTES
from tests.helpers.oracle import COOKIE_OCTETS
from tests.helpers.oracle import CSP
from tests.helpers.oracle import DEFAULT_LIFETIME
from tests.helpers.oracle import MAX_BODY_SIZE
from tests.helpers.oracle import MULTIPART
from tests.helpers.oracle import NOW
from tests.helpers.oracle import OLD_KEY
from tests.helpers.oracle import TEST_KEY as KEY
from tests.helpers.oracle import URLENCODED
from tests.helpers.oracle import issued_at
from tests.helpers.oracle import sign as sign_text
from tests.helpers.servers import gunicorn_settings
from tests.helpers.servers import wait_for_workers

# Starts real servers: .ci/run runs these on every Python version (pyproject.toml, markers).
pytestmark = [pytest.mark.slow, pytest.mark.every_python]

FORM = URLENCODED.encode()
# Stands for the server's own host:port, filled in when a case is sent.
HOST = b"{host}"
# What the log may not show: a worker killed, restarted or crashed, or an error at all.
BAD_LOG = re.compile(r"\[(ERROR|CRITICAL)\]|Traceback|WORKER TIMEOUT|Worker \(pid|Booting worker")


def request(
    method: bytes = b"GET",
    target: bytes = b"/",
    headers: list[bytes] = (),
    body: bytes = b"",
    length: bool = True,
) -> bytes:
    """A request as raw bytes, with Host, Connection: close and, for a body, its Content-Length."""
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: " + HOST, b"Connection: close", *headers]
    if length and body:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def post_form(body: bytes, content_type: bytes = FORM, headers: list[bytes] = ()) -> bytes:
    length = b"Transfer-Encoding: chunked" not in headers
    return request(b"POST", b"/setcookie", [b"Content-Type: " + content_type, *headers], body, length)


def chunked(body: bytes, size: int = 4096) -> bytes:
    chunks = [body[start : start + size] for start in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"


def lying_length(length: bytes, body: bytes = b"nm=alice", *headers: bytes) -> bytes:
    """A form whose Content-Length header says what it is told to, not what the body holds."""
    fields = [b"Content-Type: " + FORM, b"Content-Length: " + length, *headers]
    return request(b"POST", b"/setcookie", fields, body, length=False)


def sign(name: str, key: str = KEY, at: int = NOW) -> bytes:
    return sign_text(name, key, at=at).encode()


def get_cookie(cookie: bytes) -> bytes:
    return request(b"GET", b"/getcookie", [b"Cookie: " + cookie])


def signed_ago(seconds: int) -> Callable[[], bytes]:
    """A request for the welcome page with alice's cookie, signed that many seconds before it is sent."""
    return lambda: get_cookie(b"userID=" + sign("alice", at=int(time.time()) - seconds))


class Case(NamedTuple):
    id: str
    # The bytes to send, or what makes them when the case is sent (a cookie that depends on the time).
    request: bytes | Callable[[], bytes]
    status: int
    # "app": the app's own page, with its headers; "gunicorn": refused before it reached the app.
    by: str = "app"
    # The name a Set-Cookie stores, if any; clears: a Set-Cookie that deletes userID.
    sets: str | None = None
    clears: bool = False
    # The name a welcome page greets, if any.
    welcome: str | None = None


def post_chunked(body: bytes, content_type: bytes = FORM) -> bytes:
    """A form with a chunked body, given already framed."""
    return post_form(body, content_type, [b"Transfer-Encoding: chunked"])


# The multipart forms' boundary here.
B = "corpus"
MP = f"{MULTIPART}; boundary={B}".encode()
ALICE = multipart([("nm", "alice")], B)
# Forms that set nm=alice, of exactly MAX_BODY_SIZE bytes and one more; the first chunked, ending
# with the last chunk (5 bytes).
AT_THE_CAP = chunked(form_of_size(MAX_BODY_SIZE, "urlencoded")[0])
OVER_THE_CAP = form_of_size(MAX_BODY_SIZE + 1, "urlencoded")[0]
MULTIPART_AT_THE_CAP = form_of_size(MAX_BODY_SIZE, "multipart", B)[0]
MULTIPART_OVER_THE_CAP = form_of_size(MAX_BODY_SIZE + 1, "multipart", B)[0]

FORMS = [
    Case("empty body", post_form(b""), 400),
    Case("chunked, bad chunk size", post_chunked(b"8\r\nnm=alice\r\nzz\r\nabc\r\n0\r\n\r\n"), 400),
    Case("chunked, chunk without its CRLF", post_chunked(b"8\r\nnm=aliceXX0\r\n\r\n"), 400),
    Case("chunked, cut off before the last chunk", post_chunked(b"8\r\nnm=alice\r\n"), 400),
    Case("chunked multipart, bad chunk size", post_chunked(b"14\r\n" + ALICE[:20] + b"\r\nzz\r\n", MP), 400),
    Case(
        "chunked, at the cap, then a bad chunk size",
        post_chunked(AT_THE_CAP[:-5] + b"zz\r\nabc\r\n0\r\n\r\n"),
        400,
    ),
    Case("chunked, at the cap, then cut off", post_chunked(AT_THE_CAP[:-5]), 400),
    Case(
        "body at the cap, chunked",
        post_chunked(AT_THE_CAP),
        200,
        sets="alice",
    ),
    Case(
        "chunked",
        post_form(chunked(b"nm=alice", 3), headers=[b"Transfer-Encoding: chunked"]),
        200,
        sets="alice",
    ),
    # Gunicorn hands the app the 5 bytes announced: for the app, that is the whole body.
    Case("Content-Length shorter", lying_length(b"5"), 200, sets="al"),
    # The client half-closes after 8 of the 20 bytes it announced: gunicorn hands the app what
    # came before the end of the stream, and the app refuses a body cut short.
    Case("Content-Length longer", lying_length(b"20"), 400),
    Case("multipart at the cap, Content-Length", post_form(MULTIPART_AT_THE_CAP, MP), 200, sets="alice"),
    Case("multipart at the cap, chunked", post_chunked(chunked(MULTIPART_AT_THE_CAP), MP), 200, sets="alice"),
    Case("multipart 1 byte over the cap, chunked", post_chunked(chunked(MULTIPART_OVER_THE_CAP), MP), 413),
    Case(
        "body 1 byte over the cap, chunked",
        post_chunked(chunked(OVER_THE_CAP)),
        413,
    ),
    Case("Content-Length negative", lying_length(b"-8"), 400, by="gunicorn"),
    Case("Content-Length not a number", lying_length(b"8a"), 400, by="gunicorn"),
    Case("Content-Length twice", lying_length(b"8", b"nm=alice", b"Content-Length: 9"), 400, by="gunicorn"),
    Case(
        "Content-Length and chunked",
        post_form(chunked(b"nm=alice"), headers=[b"Transfer-Encoding: chunked", b"Content-Length: 8"]),
        400,
        by="gunicorn",
    ),
]

COOKIES = [
    # The served app's own lifetime (31 days without COOKIE_MAX_AGE), on the system's clock.
    # Signed when the case is sent (a second before the server reads it): the margins are seconds.
    Case("31 days old", signed_ago(DEFAULT_LIFETIME - 60), 200, welcome="alice"),
    Case("too old", signed_ago(DEFAULT_LIFETIME + 1), 200, clears=True),
    Case(
        "near the header limit",
        get_cookie(b"a=" + b"b" * 8100 + b"; userID=" + sign("alice")),
        200,
        welcome="alice",
    ),
    Case("over the header limit", get_cookie(b"a=" + b"b" * 8200), 431, by="gunicorn"),
]

LINES = [
    Case("HEAD /", request(b"HEAD"), 200),
    Case("OPTIONS /setcookie", request(b"OPTIONS", b"/setcookie"), 204),
    Case("lowercase method", request(b"get"), 400, by="gunicorn"),
    Case("lowercase post", request(b"post", b"/setcookie"), 400, by="gunicorn"),
    Case("method with a NUL", request(b"GE\0T"), 400, by="gunicorn"),
    Case("URL at the line limit", request(b"GET", b"/" + b"a" * 4070), 404),
    Case("URL over the line limit", request(b"GET", b"/" + b"a" * 5000), 414, by="gunicorn"),
    Case("//getcookie", request(b"GET", b"//getcookie"), 404),
    Case("/%2e%2e/", request(b"GET", b"/%2e%2e/"), 404),
    Case("/../getcookie", request(b"GET", b"/../getcookie"), 404),
    Case("/getcookie%00", request(b"GET", b"/getcookie%00"), 404),
    Case("/%ff", request(b"GET", b"/%ff"), 404),
    Case("/%2fgetcookie", request(b"GET", b"/%2fgetcookie"), 404),
    Case("raw byte 0xff in the path", request(b"GET", b"/\xff"), 400, by="gunicorn"),
    Case("absolute URL", request(b"GET", b"http://evil.example/getcookie"), 200),
    Case("asterisk", request(b"OPTIONS", b"*"), 404),
    Case("no HTTP version", b"GET /\r\n\r\n", 400, by="gunicorn"),
    Case("HTTP/1.0 without Host", b"GET / HTTP/1.0\r\n\r\n", 200),
    Case("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 400, by="gunicorn"),
    Case("bare LF", b"GET / HTTP/1.1\nHost: x\nConnection: close\n\n", 400, by="gunicorn"),
    Case(
        "bare LF in one header", b"GET / HTTP/1.1\r\nHost: x\nConnection: close\r\n\r\n", 400, by="gunicorn"
    ),
    Case("Host twice", request(headers=[b"Host: evil.example"]), 400, by="gunicorn"),
    # Gunicorn lets it through; the app falls back on SERVER_NAME for its own origin.
    Case("no Host in HTTP/1.1", b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 200),
    Case("50 headers", request(headers=[b"X-%d: y" % n for n in range(48)]), 200),
    Case("51 headers", request(headers=[b"X-%d: y" % n for n in range(49)]), 431, by="gunicorn"),
    Case("header without colon", request(headers=[b"X-Bad"]), 400, by="gunicorn"),
    Case("space before colon", request(headers=[b"X-Bad : y"]), 400, by="gunicorn"),
    Case("NUL in a header", request(headers=[b"X-Bad: a\0b"]), 400, by="gunicorn"),
    Case("folded header", request(headers=[b"X-Fold: a", b" b"]), 400, by="gunicorn"),
    Case("underscore in a name", request(headers=[b"X_Forwarded_For: 1.2.3.4"]), 200),
    Case(
        "Transfer-Encoding unknown",
        request(b"POST", b"/setcookie", [b"Transfer-Encoding: gzip"], b"x", length=False),
        400,
        by="gunicorn",
    ),
    Case(
        "Expect: 100-continue", post_form(b"nm=alice", headers=[b"Expect: 100-continue"]), 200, sets="alice"
    ),
]


FAMILIES = {"forms": FORMS, "cookies": COOKIES, "lines": LINES}


@pytest.fixture(scope="module")
def server():
    """The real gunicorn with the repository's config, signing with KEY and still accepting OLD_KEY."""
    with live_server(key=KEY, env={"SECRET_KEY_FALLBACKS": OLD_KEY}) as server:
        yield server, wait_for_workers(server, gunicorn_settings().workers)


def check_healthy(server, workers: set[int], since: int) -> None:
    """A normal request gets its page, from the same workers, and the log from since on holds no trouble."""
    response = parse_response(send_raw(server.port, request().replace(HOST, b"127.0.0.1")))
    assert response.status == 200
    assert children(server.process.pid) == workers
    log = server.output()[since:]
    assert not BAD_LOG.search(log), log


def check_case(server, case: Case) -> None:
    host = f"127.0.0.1:{server.port}".encode()
    raw = case.request() if callable(case.request) else case.request
    raw = raw.replace(HOST, host)
    response = parse_response(send_raw(server.port, raw))
    assert response.status == case.status
    app_page = response.header("X-Content-Type-Options") == "nosniff"
    assert app_page == (case.by == "app")
    if case.by == "app" and response.status != 204:
        assert response.header("Content-Type") == "text/html; charset=utf-8"
        assert response.header("Content-Security-Policy") == CSP
        if not raw.startswith(b"HEAD"):
            assert response.header("Content-Length") == str(len(response.body))
    cookie = response.header("Set-Cookie")
    if case.sets is not None:
        value = sign_text(case.sets, KEY, at=issued_at(cookie))
        assert all(ord(char) in COOKIE_OCTETS for char in value)
        assert attributes(cookie) == {f"userID={value}", *COOKIE_ATTRIBUTES}
    elif case.clears:
        assert attributes(cookie) == CLEARED
    else:
        assert cookie is None
    body = response.body.decode("utf-8", "replace")
    if case.welcome is not None:
        assert f"<h1>welcome {html.escape(case.welcome)}</h1>" in body
    else:
        assert "<h1>welcome" not in body


@pytest.mark.parametrize(
    ("family", "case"),
    [
        pytest.param(family, case, id=f"{family}: {case.id}")
        for family, cases in FAMILIES.items()
        for case in cases
    ],
)
def test_case(server, family, case):
    server, workers = server
    # Only what is logged from here on counts against this case.
    since = len(server.output())
    check_case(server, case)
    check_healthy(server, workers, since)
