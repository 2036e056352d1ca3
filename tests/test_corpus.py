"""Bad input over real HTTP: raw bytes to the real gunicorn, with the status each case must get.

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
from itsdangerous import TimestampSigner

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
from tests.helpers.oracle import sign_payload
from tests.helpers.oracle import untimed_signer
from tests.helpers.servers import children
from tests.helpers.servers import gunicorn_settings
from tests.helpers.servers import wait_for_workers

# Starts real servers: .ci/run runs these on every Python version (setup.cfg, markers).
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


# How cookies were signed before they carried the time they were issued.
UNTIMED = untimed_signer(KEY)


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
TOO_BIG = b"nm=" + b"a" * (1024 * 1024)

FORMS = [
    Case("valid", post_form(b"nm=alice"), 200, sets="alice"),
    Case("valid, 64 characters", post_form(b"nm=" + b"a" * 64), 200, sets="a" * 64),
    Case("valid, escaped UTF-8", post_form(b"nm=%C3%A9t%C3%A9"), 200, sets="\u00e9t\u00e9"),
    Case("valid, markup", post_form(b"nm=%3Cb%3Ex%3C%2Fb%3E"), 200, sets="<b>x</b>"),
    Case("empty body", post_form(b""), 400),
    Case("nm missing", post_form(b"name=alice"), 400),
    Case("nm without =", post_form(b"nm"), 400),
    Case("nm empty", post_form(b"nm="), 400),
    Case("nm blank", post_form(b"nm=+%20%09"), 400),
    Case("nm twice", post_form(b"nm=alice&nm=bob"), 400),
    Case("nm twice, once empty", post_form(b"nm=alice&nm="), 400),
    Case("nm 65 characters", post_form(b"nm=" + b"a" * 65), 400),
    Case("nm with NUL", post_form(b"nm=a%00b"), 400),
    Case("nm with CRLF", post_form(b"nm=a%0D%0ASet-Cookie:+x=y"), 400),
    Case("nm with DEL", post_form(b"nm=a%7Fb"), 400),
    Case("nm with a surrogate, escaped CESU-8", post_form(b"nm=%ED%A0%80"), 400),
    # A bad escape is kept as it is, as browsers do: "%zz" is a fine name.
    Case("bad percent-escape", post_form(b"nm=%zz"), 200, sets="%zz"),
    Case("truncated percent-escape", post_form(b"nm=a%2"), 200, sets="a%2"),
    # An escape that decodes to bytes that are not UTF-8 is kept escaped, not decoded.
    Case("escaped non-UTF-8", post_form(b"nm=%FF"), 400),
    Case("escaped non-UTF-8 inside a name", post_form(b"nm=al%FFice"), 400),
    Case("escaped percent sign", post_form(b"nm=al%25FFice"), 200, sets="al%FFice"),
    Case("raw non-UTF-8", post_form(b"nm=\xff"), 400),
    Case("raw latin-1", post_form(b"nm=caf\xe9"), 400),
    Case("Content-Type missing", request(b"POST", b"/setcookie", [], b"nm=alice"), 415),
    Case("Content-Type text/plain", post_form(b"nm=alice", b"text/plain"), 415),
    Case("Content-Type JSON", post_form(b'{"nm": "alice"}', b"application/json"), 415),
    Case("Content-Type empty", post_form(b"nm=alice", b""), 415),
    Case("Content-Type only parameters", post_form(b"nm=alice", b"; charset=utf-8"), 415),
    Case(
        "Content-Type with a charset",
        post_form(b"nm=alice", FORM + b"; charset=utf-8"),
        200,
        sets="alice",
    ),
    Case("multipart", post_form(ALICE, MP), 200, sets="alice"),
    Case("multipart without boundary", post_form(ALICE, MULTIPART.encode()), 400),
    Case("multipart, other boundary", post_form(multipart([("nm", b"alice")], "other"), MP), 400),
    Case("multipart truncated", post_form(ALICE[:-12], MP), 400),
    Case(
        "multipart without end",
        post_form(b"--corpus\r\nContent-Disposition: form-data; name=nm\r\n", MP),
        400,
    ),
    Case("multipart part without headers", post_form(b"--corpus\r\n\r\nalice\r\n--corpus--\r\n", MP), 400),
    Case("multipart, 9 parts", post_form(multipart([("x", b"1")] * 8 + [("nm", b"alice")], B), MP), 413),
    Case("multipart, 300 parts", post_form(multipart([("x", b"")] * 300, B), MP), 413),
    Case("multipart, 5000 parts", post_form(multipart([("x", b"")] * 5000, B), MP), 413),
    Case(
        "multipart, a file",
        post_form(ALICE.replace(b'"nm"', b'"nm"; filename="a"'), MP),
        400,
    ),
    # Werkzeug would decode the field as UTF-8, each bad byte U+FFFD: refused as an urlencoded one is.
    Case("multipart, non-UTF-8 value", post_form(multipart([("nm", b"\xff\xfe")], B), MP), 400),
    Case("multipart, non-UTF-8 field name", post_form(multipart([("\xff", b"alice")], B), MP), 400),
    Case(
        "multipart, unknown part charset",
        post_form(ALICE.replace(b'"nm"', b'"nm"\r\nContent-Type: text/plain; charset=x-unknown'), MP),
        200,
        sets="alice",
    ),
    Case("multipart, LF line ends", post_form(ALICE.replace(b"\r\n", b"\n"), MP), 200, sets="alice"),
    Case(
        "multipart, a part header over the cap",
        post_form(ALICE.replace(b'"nm"', b'"nm"\r\nX: ' + b"a" * 20000), MP),
        413,
    ),
    Case("body over the cap, Content-Length", post_form(TOO_BIG), 413),
    Case(
        "body over the cap, chunked",
        post_form(chunked(TOO_BIG), headers=[b"Transfer-Encoding: chunked"]),
        413,
    ),
    Case(
        "body over the cap, chunked, a valid name first",
        post_form(chunked(b"nm=alice&x=" + TOO_BIG), headers=[b"Transfer-Encoding: chunked"]),
        413,
    ),
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
    Case("body 1 byte over the cap", post_form(b"nm=" + b"a" * (MAX_BODY_SIZE - 2)), 413),
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
    Case("Content-Length 100, 5 bytes sent", lying_length(b"100", b"nm=al"), 400),
    Case("multipart at the cap, Content-Length", post_form(MULTIPART_AT_THE_CAP, MP), 200, sets="alice"),
    Case("multipart at the cap, chunked", post_chunked(chunked(MULTIPART_AT_THE_CAP), MP), 200, sets="alice"),
    Case("multipart 1 byte over the cap, Content-Length", post_form(MULTIPART_OVER_THE_CAP, MP), 413),
    Case("multipart 1 byte over the cap, chunked", post_chunked(chunked(MULTIPART_OVER_THE_CAP), MP), 413),
    Case(
        "body 1 byte over the cap, chunked",
        post_chunked(chunked(OVER_THE_CAP)),
        413,
    ),
    Case("media type in capitals", post_form(b"nm=alice", FORM.upper()), 200, sets="alice"),
    Case(
        "multipart in mixed case",
        post_form(ALICE, b"Multipart/Form-Data; Boundary=corpus"),
        200,
        sets="alice",
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
    Case("none", request(b"GET", b"/getcookie"), 200),
    Case("valid", get_cookie(b"userID=" + sign("alice")), 200, welcome="alice"),
    Case("valid, quoted", get_cookie(b'userID="' + sign("alice") + b'"'), 200, welcome="alice"),
    Case("valid, old key", get_cookie(b"userID=" + sign("alice", OLD_KEY)), 200, welcome="alice"),
    Case(
        "valid, markup",
        get_cookie(b"userID=" + sign("<script>x</script>")),
        200,
        welcome="<script>x</script>",
    ),
    Case("valid, among others", get_cookie(b"a=1; userID=" + sign("alice") + b"; b=2"), 200, welcome="alice"),
    Case(
        "valid, encoded name",
        get_cookie(b"userID=" + sign('Jos\u00e9 "x,y=z" a\\b')),
        200,
        welcome='Jos\u00e9 "x,y=z" a\\b',
    ),
    # Two userID cookies (another path, a parent domain): no user, whichever would verify.
    Case(
        "same name twice",
        get_cookie(b"userID=" + sign("alice") + b"; userID=" + sign("bob")),
        200,
        clears=True,
    ),
    Case("padded signature", get_cookie(b"userID=" + sign("alice") + b"="), 200, clears=True),
    Case(
        "old cookie, name with %",
        get_cookie(b"userID=" + sign_payload("100%", KEY).encode()),
        200,
        clears=True,
    ),
    Case("forged signature", get_cookie(b"userID=alice." + b"A" * 43), 200, clears=True),
    Case(
        "signature of another name",
        get_cookie(b"userID=bob." + sign("alice").split(b".")[1]),
        200,
        clears=True,
    ),
    Case("truncated signature", get_cookie(b"userID=" + sign("alice")[:-1]), 200, clears=True),
    Case("no signature", get_cookie(b"userID=alice"), 200, clears=True),
    Case("wrong key", get_cookie(b"userID=" + sign("alice", "another-key")), 200, clears=True),
    Case("unsalted", get_cookie(b"userID=" + TimestampSigner(KEY).sign(b"alice")), 200, clears=True),
    # Issued before cookies carried their time: the users of an upgraded app log in again once.
    Case("without a time", get_cookie(b"userID=" + UNTIMED.sign(b"alice")), 200, clears=True),
    # The server's own lifetime (31 days without COOKIE_MAX_AGE), and other instances' clocks.
    # Signed when the case is sent (a second before the server reads it): the margins are seconds.
    Case("31 days old", signed_ago(DEFAULT_LIFETIME - 60), 200, welcome="alice"),
    Case("too old", signed_ago(DEFAULT_LIFETIME + 1), 200, clears=True),
    Case("from 30 s ahead", signed_ago(-30), 200, welcome="alice"),
    Case("from 2 minutes ahead", signed_ago(-120), 200, clears=True),
    # A pair without "=" is a value without a name (RFC 6265bis, 5.6): not the user cookie.
    Case("no =", get_cookie(b"userID"), 200),
    Case("empty value", get_cookie(b"userID="), 200, clears=True),
    Case("empty name", get_cookie(b"=" + sign("alice")), 200),
    Case("only separators", get_cookie(b";;; ;"), 200),
    # Not a cookie at all: userID is not in the header, so there is nothing to clear.
    Case("unterminated quote", get_cookie(b'userID="' + sign("alice")), 200),
    Case("unterminated quote after an escape", get_cookie(b'userID="al\\ice\\"'), 200),
    Case("escapes", get_cookie(b'userID="al\\"ice\\\\"'), 200, clears=True),
    Case("octal escapes", get_cookie(b'userID="\\141lice"'), 200, clears=True),
    Case("valid, escaped", get_cookie(b'userID="\\141' + sign("alice")[1:] + b'"'), 200, welcome="alice"),
    Case("non-UTF-8 value", get_cookie(b"userID=\xff\xfe"), 200, clears=True),
    # Other cookies of the host, whatever their bytes, leave the user cookie alone.
    Case("non-UTF-8 in another cookie", get_cookie(b"a=\xff; userID=" + sign("alice")), 200, welcome="alice"),
    Case(
        "latin-1 in another cookie",
        get_cookie(b"pref=caf\xe9; userID=" + sign("alice")),
        200,
        welcome="alice",
    ),
    Case("empty pairs", get_cookie(b";;; userID=" + sign("alice") + b";;;"), 200, welcome="alice"),
    Case("a name without a value", get_cookie(b"flag; userID=" + sign("alice")), 200, welcome="alice"),
    Case("= without a name", get_cookie(b"=x; =; userID=" + sign("alice")), 200, welcome="alice"),
    Case("non-UTF-8 in the user cookie", get_cookie(b"userID=\xff" + sign("alice")), 200, clears=True),
    Case("UTF-8 value", get_cookie("userID=\u00e9t\u00e9".encode()), 200, clears=True),
    Case("300 cookies", get_cookie(b"; ".join(b"c%d=v" % n for n in range(300))), 200),
    Case(
        "300 cookies, then userID",
        get_cookie(b"c=v; " * 300 + b"userID=" + sign("alice")),
        200,
        welcome="alice",
    ),
    Case(
        "near the header limit",
        get_cookie(b"a=" + b"b" * 8100 + b"; userID=" + sign("alice")),
        200,
        welcome="alice",
    ),
    Case("over the header limit", get_cookie(b"a=" + b"b" * 8200), 431, by="gunicorn"),
    Case(
        # Gunicorn joins the two with a comma: "a=1,userID=..." is one cookie, a, and no userID.
        "Cookie header twice",
        request(b"GET", b"/getcookie", [b"Cookie: a=1", b"Cookie: userID=" + sign("alice")]),
        200,
    ),
]

LINES = [
    Case("GET /", request(), 200),
    Case("HEAD /", request(b"HEAD"), 200),
    Case("OPTIONS /setcookie", request(b"OPTIONS", b"/setcookie"), 204),
    Case("unknown method", request(b"FOO"), 405),
    Case("unknown method on a form", request(b"PROPFIND", b"/setcookie"), 405),
    Case("DELETE", request(b"DELETE", b"/getcookie"), 405),
    Case("TRACE", request(b"TRACE"), 405),
    Case("lowercase method", request(b"get"), 400, by="gunicorn"),
    Case("lowercase post", request(b"post", b"/setcookie"), 400, by="gunicorn"),
    Case("method with a NUL", request(b"GE\0T"), 400, by="gunicorn"),
    Case("URL at the line limit", request(b"GET", b"/" + b"a" * 4070), 404),
    Case("URL over the line limit", request(b"GET", b"/" + b"a" * 5000), 414, by="gunicorn"),
    Case("long query", request(b"GET", b"/?" + b"a" * 4000), 200),
    Case("//x", request(b"GET", b"//x"), 404),
    Case("/x/", request(b"GET", b"/x/"), 404),
    Case("/getcookie/", request(b"GET", b"/getcookie/"), 404),
    Case("//getcookie", request(b"GET", b"//getcookie"), 404),
    Case("/%2e%2e/", request(b"GET", b"/%2e%2e/"), 404),
    Case("/../getcookie", request(b"GET", b"/../getcookie"), 404),
    Case("/%00", request(b"GET", b"/%00"), 404),
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


def cross(*headers: bytes, path: bytes = b"/setcookie") -> bytes:
    """A valid form, with the given cross-site headers."""
    return request(b"POST", path, [b"Content-Type: " + FORM, *headers], b"nm=alice")


CROSS_SITE = [
    Case("no Origin, no Sec-Fetch-Site", cross(), 200, sets="alice"),
    Case("same-origin", cross(b"Sec-Fetch-Site: same-origin"), 200, sets="alice"),
    Case("none (typed URL)", cross(b"Sec-Fetch-Site: none"), 200, sets="alice"),
    Case("same-site", cross(b"Sec-Fetch-Site: same-site"), 403),
    Case("cross-site", cross(b"Sec-Fetch-Site: cross-site"), 403),
    Case("unknown value", cross(b"Sec-Fetch-Site: maybe"), 403),
    Case("uppercase value", cross(b"Sec-Fetch-Site: Same-Origin"), 403),
    Case(
        "same-origin, but a foreign Origin",
        cross(b"Sec-Fetch-Site: same-origin", b"Origin: http://evil.example"),
        200,
        sets="alice",
    ),
    Case("cross-site, but our Origin", cross(b"Sec-Fetch-Site: cross-site", b"Origin: http://" + HOST), 403),
    Case("Origin: ours", cross(b"Origin: http://" + HOST), 200, sets="alice"),
    Case("Origin: ours, uppercase", cross(b"Origin: HTTP://" + HOST.upper()), 200, sets="alice"),
    Case("Origin: null", cross(b"Origin: null"), 403),
    Case("Origin: another host", cross(b"Origin: http://evil.example"), 403),
    Case("Origin: our host, another port", cross(b"Origin: http://127.0.0.1:1"), 403),
    Case("Origin: our host, no port", cross(b"Origin: http://127.0.0.1"), 403),
    Case("Origin: our host, https", cross(b"Origin: https://" + HOST), 403),
    Case("Origin: a subdomain of ours", cross(b"Origin: http://evil." + HOST), 403),
    Case("Origin: ours as a prefix", cross(b"Origin: http://" + HOST + b".evil.example"), 403),
    Case("Origin: userinfo, ours", cross(b"Origin: http://evil.example@" + HOST), 403),
    Case("Origin: userinfo, theirs", cross(b"Origin: http://" + HOST + b"@evil.example"), 403),
    Case("Origin: ours with a path", cross(b"Origin: http://" + HOST + b"/"), 403),
    Case("Origin: empty", cross(b"Origin: "), 200, sets="alice"),
    # Host is what the browser connected to, which an attacker's page cannot choose.
    Case(
        "Host and Origin both another site",
        cross(b"Origin: http://evil.example").replace(b"Host: " + HOST, b"Host: evil.example"),
        200,
        sets="alice",
    ),
    Case("logout, cross-site", cross(b"Sec-Fetch-Site: cross-site", path=b"/deletecookie"), 403),
    Case("logout, Origin: null", cross(b"Origin: null", path=b"/deletecookie"), 403),
    Case(
        "logout, same-origin", cross(b"Sec-Fetch-Site: same-origin", path=b"/deletecookie"), 303, clears=True
    ),
]

FAMILIES = {"forms": FORMS, "cookies": COOKIES, "lines": LINES, "cross-site": CROSS_SITE}


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
    raw = raw.replace(HOST, host).replace(HOST.upper(), host.upper())
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
