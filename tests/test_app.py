"""WSGI-level tests of every route, the cookie and its signature, the limits and the headers."""

import base64
import hashlib
import io
import re
import string
import time
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from wsgiref.validate import validator

import pytest
from gunicorn.http.errors import InvalidChunkSize
from itsdangerous import Signer
from werkzeug.http import dump_cookie
from werkzeug.test import EnvironBuilder

import wsgiapp
from tests.helpers.answer import Answer
from tests.helpers.inprocess import TEST_APP
from tests.helpers.inprocess import BufferedClient
from tests.helpers.inprocess import make_test_app
from tests.helpers.inprocess import run_app
from tests.helpers.oracle import ALLOW
from tests.helpers.oracle import CLEARED
from tests.helpers.oracle import COOKIE_ATTRIBUTES
from tests.helpers.oracle import COOKIE_OCTETS
from tests.helpers.oracle import CSP
from tests.helpers.oracle import TEST_KEY
from tests.helpers.oracle import sign
from tests.helpers.oracle import sign_payload
from tests.helpers.oracle import welcome

FORM = "application/x-www-form-urlencoded"
PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "same-origin",
}
# Over https: the __Host- cookie, Secure.
CLEARED_HTTPS = {"__Host-userID=", *(CLEARED - {"userID="}), "Secure"}


def attrs(header: str) -> set[str]:
    return set(header.split("; "))


def assert_page(response, status: HTTPStatus, private: bool = False) -> str:
    """Check the status and every header a page carries; return the body."""
    assert response.status_code == status
    for name, value in PAGE_HEADERS.items():
        assert response.headers[name] == value
    body = response.get_data()
    assert response.headers["Content-Length"] == str(len(body))
    if private:
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Vary"] == "Cookie"
    else:
        assert "Cache-Control" not in response.headers
        assert "Vary" not in response.headers
    text = body.decode()
    assert text.startswith('<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">')
    return text


def login(client, name: str, **kwargs):
    return client.post("/setcookie", data={"nm": name}, **kwargs)


# The form


def test_index_shows_the_form(client):
    response = client.get("/")
    body = assert_page(response, HTTPStatus.OK)
    assert "<title>Enter userID</title>" in body
    assert '<form action="/setcookie" method="POST">' in body
    assert '<label for="nm">User ID</label>' in body
    assert '<input type="text" id="nm" name="nm" required maxlength="64" autocomplete="username">' in body
    assert '<button type="submit">Login</button>' in body
    assert '<p class="error" role="alert"></p>' in body
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize(
    ("path", "kwargs"),
    [
        ("/", {}),
        ("/getcookie", {}),
        ("/setcookie", {"method": "POST", "data": {"nm": "alice"}}),
        ("/nope", {}),
    ],
)
def test_every_page_has_a_description_and_declares_its_icon(client, path, kwargs):
    body = client.open(path, **kwargs).get_data(as_text=True)
    assert (
        '<meta name="description" content="A user ID kept in a signed cookie: the cookie login of the'
        ' Flask tutorial, as a plain WSGI app.">\n<link rel="icon" href="/favicon.svg" type="image/svg+xml">'
    ) in body


STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "same-origin",
    "Cache-Control": "public, max-age=86400",
}


def test_robots_txt_lets_crawlers_see_every_page(client):
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert {name: response.headers[name] for name in STATIC_HEADERS} == STATIC_HEADERS
    assert response.get_data() == (
        b"# Every page may be crawled: none holds more than the form and its answers.\n"
        b"User-agent: *\n"
        b"Disallow:\n"
    )
    assert response.headers["Content-Length"] == str(len(response.get_data()))


def test_the_declared_icon_is_served(client):
    response = client.get("/favicon.svg")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/svg+xml"
    assert {name: response.headers[name] for name in STATIC_HEADERS} == STATIC_HEADERS
    body = response.get_data()
    assert body.startswith(b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">')
    assert body.endswith(b"</svg>\n")
    assert response.headers["Content-Length"] == str(len(body))


def test_style_hash_in_csp_matches_the_page(client):
    body = client.get("/").get_data()
    style = re.search(rb"<style>(.*?)</style>", body, re.DOTALL).group(1)
    assert f"'sha256-{base64.b64encode(hashlib.sha256(style).digest()).decode()}'" in CSP
    assert b"<script" not in body


@pytest.mark.parametrize("path", ["/", "/getcookie", "/setcookie"])
def test_head_has_the_get_headers_and_no_body(client, path):
    get = client.get(path)
    head = client.head(path)
    assert head.status_code == get.status_code
    assert head.headers == get.headers
    assert head.get_data() == b""


# Setting the cookie


def test_setcookie_sets_a_signed_cookie_and_links_to_getcookie(client):
    response = login(client, "alice")
    body = assert_page(response, HTTPStatus.OK, private=True)
    assert '<a href="/getcookie">' in body
    assert attrs(response.headers["Set-Cookie"]) == {f"userID={sign('alice')}", *COOKIE_ATTRIBUTES}
    assert len(response.headers.getlist("Set-Cookie")) == 1


def test_setcookie_accepts_multipart(client):
    response = client.post("/setcookie", data={"nm": "bob"}, content_type="multipart/form-data")
    assert_page(response, HTTPStatus.OK, private=True)
    assert client.get_cookie("userID").decoded_value == sign("bob")


def test_setcookie_over_https_is_a_secure_host_cookie(client):
    response = login(client, "alice", base_url="https://localhost")
    # The __Host- prefix requires Secure, Path=/ and no Domain.
    assert attrs(response.headers["Set-Cookie"]) == {
        f"__Host-userID={sign('alice')}",
        "Secure",
        *COOKIE_ATTRIBUTES,
    }
    response = client.get("/getcookie", base_url="https://localhost")
    assert welcome("alice") in assert_page(response, HTTPStatus.OK, private=True)


def test_https_ignores_a_plain_user_cookie(raw_client):
    # A plain-http page or a sibling subdomain could have set it.
    response = raw_client.get(
        "/getcookie", headers={"Cookie": f"userID={sign('mallory')}"}, base_url="https://localhost"
    )
    assert "<h1>No user is set</h1>" in assert_page(response, HTTPStatus.OK, private=True)
    assert "Set-Cookie" not in response.headers


def test_http_reads_only_the_plain_user_cookie(raw_client):
    response = raw_client.get("/getcookie", headers={"Cookie": f"__Host-userID={sign('alice')}"})
    assert "<h1>No user is set</h1>" in assert_page(response, HTTPStatus.OK, private=True)
    assert "Set-Cookie" not in response.headers


def test_cookie_max_age_makes_it_persistent():
    client = BufferedClient(validator(make_test_app(max_age=3600)))
    response = login(client, "alice")
    parts = attrs(response.headers["Set-Cookie"])
    expires = {part for part in parts if part.startswith("Expires=")}
    assert parts - expires == {f"userID={sign('alice')}", "Max-Age=3600", *COOKIE_ATTRIBUTES}
    (expires,) = expires
    when = parsedate_to_datetime(expires.removeprefix("Expires=")).timestamp()
    assert abs(when - (time.time() + 3600)) < 60


NAMES = [
    "alice",
    "José",
    "Zoë Ångström",
    "李小龙",
    "😀 family 👨‍👩‍👧",
    "semi;colon",
    "com,ma",
    "x,y=z",
    'dou"ble"',
    "back\\slash",
    " spaced out ",
    "dots.in.name",
    "100%",
    "%41 not decoded",
    "a=b",
    "é" * 64,
    "😀" * 64,
]


@pytest.mark.parametrize("name", NAMES)
def test_any_name_round_trips_exactly(client, name):
    response = login(client, name)
    assert response.status_code == 200
    value = response.headers["Set-Cookie"].split("; ")[0].removeprefix("userID=")
    assert value == sign(name)
    # RFC 6265 cookie-octets only, so never quoted.
    assert all(ord(char) in COOKIE_OCTETS for char in value)
    response = client.get("/getcookie")
    body = assert_page(response, HTTPStatus.OK, private=True)
    assert welcome(name) in body
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("alice", "alice"),
        ("José", "Jos%C3%A9"),
        ("x,y=z", "x%2Cy=z"),
        ("a\\b", "a%5Cb"),
        ('say "hi"', "say%20%22hi%22"),
        ("semi;colon", "semi%3Bcolon"),
        ("100%", "100%25"),
        ("!#$&'()*+-./:<=>?@[]^_`{|}~", "!#$&'()*+-./:<=>?@[]^_`{|}~"),
        ("名", "%E5%90%8D"),
    ],
)
def test_the_name_is_percent_encoded_in_the_cookie(client, name, value):
    response = login(client, name)
    assert response.headers["Set-Cookie"].split("; ")[0] == f"userID={sign_payload(value)}"


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ('" onmouseover="alert(1)', "&quot; onmouseover=&quot;alert(1)"),
        ("' autofocus x='", "&#x27; autofocus x=&#x27;"),
        ("Tom & Jerry", "Tom &amp; Jerry"),
    ],
)
def test_names_are_escaped_in_the_page(client, name, escaped):
    login(client, name)
    body = client.get("/getcookie").get_data(as_text=True)
    assert f"<h1>welcome {escaped}</h1>" in body
    assert name not in body


# Bad names: 400, the form again with a message, nothing set


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Please enter a user ID."),
        ({"other": "x"}, "Please enter a user ID."),
        ({"nm": ""}, "The user ID must not be blank."),
        ({"nm": "   \t "}, "The user ID must not be blank."),
        ({"nm": ["alice", "bob"]}, "Send one user ID, not several."),
        ({"nm": ["alice", "alice"]}, "Send one user ID, not several."),
        ({"nm": "a" * 65}, "The user ID must be at most 64 characters long."),
        ({"nm": "😀" * 65}, "The user ID must be at most 64 characters long."),
        ({"nm": "a\r\nSet-Cookie: x=1"}, "The user ID must not contain control characters."),
        ({"nm": "a\x00b"}, "The user ID must not contain control characters."),
        ({"nm": "a\x7f"}, "The user ID must not contain control characters."),
        ({"nm": "a\x85b"}, "The user ID must not contain control characters."),
    ],
)
def test_bad_names_get_the_form_again_with_a_message(client, data, message):
    response = client.post("/setcookie", data=data, content_type=FORM)
    body = assert_page(response, HTTPStatus.BAD_REQUEST, private=True)
    assert f'<p class="error" role="alert">{message}</p>' in body
    assert '<form action="/setcookie" method="POST">' in body
    assert "Set-Cookie" not in response.headers
    assert client.get_cookie("userID") is None


def test_a_bad_name_leaves_an_existing_cookie_alone(client):
    login(client, "alice")
    response = client.post("/setcookie", data={"nm": ""})
    assert response.status_code == 400
    assert "Set-Cookie" not in response.headers
    assert welcome("alice") in client.get("/getcookie").get_data(as_text=True)


# Bodies that are not a form, too large, or broken


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("text/plain", b"nm=alice"),
        ("application/json", b'{"nm": "alice"}'),
        ("application/x-url-encoded", b"nm=alice"),
        (None, b"nm=alice"),
        (None, b""),
    ],
)
def test_a_body_that_is_not_a_form_is_415(client, content_type, data):
    response = client.post("/setcookie", data=data, content_type=content_type)
    body = assert_page(response, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, private=True)
    assert "application/x-www-form-urlencoded or multipart/form-data" in body
    assert "Set-Cookie" not in response.headers


MULTIPART_OK = b'--b\r\nContent-Disposition: form-data; name="nm"\r\n\r\nalice\r\n--b--\r\n'


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("multipart/form-data", MULTIPART_OK),
        ("multipart/form-data; boundary=b", MULTIPART_OK[:30]),
        ("multipart/form-data; boundary=b", b"no boundary here at all"),
        (FORM, b"nm=\xff\xfe"),
        # Werkzeug would keep these escapes as their text ("al%FFice"): they are not UTF-8 either.
        (FORM, b"nm=al%FFice"),
        (FORM, b"nm=Jos%C3"),
        (FORM, b"nm=alice&x=%ED%A0%80"),
    ],
    ids=[
        "no-boundary",
        "truncated",
        "garbage",
        "not-utf8",
        "escaped-not-utf8",
        "cut-escape",
        "escaped-surrogate",
    ],
)
def test_a_broken_form_is_400(client, content_type, data):
    response = client.post("/setcookie", data=data, content_type=content_type)
    body = assert_page(response, HTTPStatus.BAD_REQUEST, private=True)
    assert "The form could not be read." in body
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("escape", [f"%{high}{low}" for high in "89ABCDEFabcdef" for low in "0aF"])
def test_an_escaped_byte_from_0x80_up_alone_is_400(client, escape):
    """A lone byte from 0x80 up is never UTF-8, however its escape is spelt."""
    response = client.post("/setcookie", data=f"nm=a{escape}b".encode(), content_type=FORM)
    assert "The form could not be read." in assert_page(response, HTTPStatus.BAD_REQUEST, private=True)
    assert "Set-Cookie" not in response.headers


def test_a_hand_written_multipart_body_works(client):
    response = client.post("/setcookie", data=MULTIPART_OK, content_type="multipart/form-data; boundary=b")
    assert response.status_code == 200
    assert client.get_cookie("userID").decoded_value == sign("alice")


def multipart(*parts: tuple[str, str]) -> bytes:
    fields = [f'--b\r\nContent-Disposition: form-data; name="{n}"\r\n\r\n{v}\r\n' for n, v in parts]
    return ("".join(fields) + "--b--\r\n").encode()


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        (FORM, b"nm=alice&pad=" + b"x" * 16_384),
        (FORM, b"nm=" + b"a" * 20_000),
        ("multipart/form-data; boundary=b", multipart(*[("nm", "alice")], *[("x", "1")] * 8)),
        ("multipart/form-data; boundary=b", multipart(("nm", "a" * 17_000))),
        # Nine fields, counted by their separators as parse_qsl's max_num_fields does.
        (FORM, b"nm=alice" + b"&x=1" * 8),
        (FORM, b"nm=alice" + b"&" * 8),
    ],
    ids=["urlencoded", "long-name", "too-many-parts", "big-part", "too-many-fields", "empty-fields"],
)
def test_a_form_over_the_limits_is_413(client, content_type, data):
    response = client.post("/setcookie", data=data, content_type=content_type)
    body = assert_page(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, private=True)
    assert "at most 16384 bytes in 8 parts" in body
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        (FORM, b"nm=alice" + b"&x=1" * 7),
        ("multipart/form-data; boundary=b", multipart(("nm", "alice"), *[("x", "1")] * 7)),
    ],
    ids=["urlencoded", "multipart"],
)
def test_a_form_of_eight_fields_is_read(client, content_type, data):
    response = client.post("/setcookie", data=data, content_type=content_type)
    assert_page(response, HTTPStatus.OK, private=True)
    assert attrs(response.headers["Set-Cookie"]) == {f"userID={sign('alice')}", *COOKIE_ATTRIBUTES}


def post(
    body: bytes,
    content_type: str = FORM,
    content_length: int | None = None,
    stream: object = None,
    chunked: bool = False,
) -> Answer:
    """POST /setcookie as a server hands it over: with a Content-Length (the body's own unless
    given), or chunked (none, and the stream ends where the body does); stream replaces the body's.

    Unlike Werkzeug's test client, a 500 comes back as a server would send it, exc_info and all.
    """
    environ = EnvironBuilder(method="POST", path="/setcookie", errors_stream=io.StringIO()).get_environ()
    environ["CONTENT_TYPE"] = content_type
    environ["wsgi.input"] = io.BytesIO(body) if stream is None else stream
    if chunked:
        environ.pop("CONTENT_LENGTH", None)
        environ["wsgi.input_terminated"] = True
    else:
        environ["CONTENT_LENGTH"] = str(len(body) if content_length is None else content_length)
    return run_app(TEST_APP, environ)


@pytest.mark.parametrize(
    "body",
    [b"nm=" + b"a" * 40_000, b"nm=alice&pad=" + b"x" * 40_000, b"nm=alice&pad=" + b"x" * 16_372],
    ids=["long-name", "padded", "one-byte-over"],
)
def test_a_chunked_body_over_the_cap_is_413(body):
    answer = post(body, chunked=True)
    assert answer.status == 413
    assert answer.values("Set-Cookie") == []
    assert b"at most 16384 bytes in 8 parts" in answer.body


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"nm=alice", 200), (b"nm=alice&pad=" + b"x" * 16_371, 200), (b"nm=" + b"a" * 1000, 400)],
    ids=["short", "exactly-at-the-cap", "name-too-long"],
)
def test_a_chunked_body_within_the_cap_is_read_whole(body, status):
    answer = post(body, chunked=True)
    assert answer.status == status
    if status == 200:
        assert attrs(answer.header("Set-Cookie")) == {f"userID={sign('alice')}", *COOKIE_ATTRIBUTES}
    else:
        assert answer.values("Set-Cookie") == []


def test_a_body_shorter_than_its_content_length_is_400():
    # The client promised 100 bytes and closed after 5: "al" is not the name it meant.
    answer = post(b"nm=al", content_length=100)
    assert answer.status == 400
    assert b"The form ended before its announced length." in answer.body
    assert answer.values("Set-Cookie") == []
    answer = post(MULTIPART_OK[:-2], "multipart/form-data; boundary=b", content_length=len(MULTIPART_OK))
    assert answer.status == 400
    assert answer.values("Set-Cookie") == []


def form_of_size(size: int, encoding: str) -> tuple[bytes, str]:
    """A form that sets nm=alice and fills a second field up to exactly size bytes."""
    if encoding == "urlencoded":
        body = b"nm=alice&x="
        return body + b"a" * (size - len(body)), FORM
    head = b'--b\r\nContent-Disposition: form-data; name="nm"\r\n\r\nalice\r\n'
    head += b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n'
    tail = b"\r\n--b--\r\n"
    return head + b"a" * (size - len(head) - len(tail)) + tail, "multipart/form-data; boundary=b"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_the_cap_is_the_same_however_the_body_is_framed(encoding, chunked):
    body, content_type = form_of_size(16_384, encoding)
    assert len(body) == wsgiapp.MAX_BODY_SIZE
    answer = post(body, content_type, chunked=chunked)
    assert answer.status == 200
    assert attrs(answer.header("Set-Cookie")) == {f"userID={sign('alice')}", *COOKIE_ATTRIBUTES}
    body, content_type = form_of_size(16_385, encoding)
    answer = post(body, content_type, chunked=chunked)
    assert answer.status == 413
    assert b"at most 16384 bytes in 8 parts" in answer.body
    assert answer.values("Set-Cookie") == []


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("APPLICATION/X-WWW-FORM-URLENCODED", b"nm=alice"),
        ("Application/X-Www-Form-Urlencoded; Charset=UTF-8", b"nm=alice"),
        ("Multipart/Form-Data; Boundary=b", MULTIPART_OK),
        ("MULTIPART/FORM-DATA; BOUNDARY=b", MULTIPART_OK),
    ],
)
def test_media_types_are_case_insensitive(content_type, body):
    answer = post(body, content_type)
    assert answer.status == 200
    assert attrs(answer.header("Set-Cookie")) == {f"userID={sign('alice')}", *COOKIE_ATTRIBUTES}


class FailingStream(io.BytesIO):
    """A body stream that raises error once its bytes run out, as a server's does on a broken body."""

    def __init__(self, body: bytes, error: Exception) -> None:
        super().__init__(body)
        self.error = error

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        if not data:
            raise self.error
        return data


@pytest.mark.parametrize(
    "error",
    [ConnectionResetError("reset"), OSError("Invalid chunk header"), InvalidChunkSize(b"zz")],
    ids=["reset", "devserver-chunk", "gunicorn-chunk"],
)
def test_a_body_the_client_broke_is_400(error):
    answer = post(b"", chunked=True, stream=FailingStream(b"nm=alice", error))
    assert answer.status == 400
    assert b"The form could not be read." in answer.body
    assert answer.values("Set-Cookie") == []
    assert answer.errors == ""


def assert_server_error(answer: Answer, error: str) -> None:
    assert answer.status == 500
    assert b"Something went wrong on our side." in answer.body
    assert answer.values("Set-Cookie") == []
    assert "Traceback" in answer.errors
    assert error in answer.errors


def test_an_unexpected_error_from_the_body_stream_is_a_500():
    answer = post(b"", chunked=True, stream=FailingStream(b"nm=alice", TypeError("a bug")))
    assert_server_error(answer, "TypeError: a bug")


def test_an_unexpected_error_from_the_form_parser_is_a_500(monkeypatch):
    def parse(*args, **kwargs):
        raise TypeError("a bug in the parser")

    monkeypatch.setattr(wsgiapp.FORM_PARSER, "parse", parse)
    assert_server_error(post(b"nm=alice"), "TypeError: a bug in the parser")


def test_get_setcookie_redirects_to_the_form(client):
    response = client.get("/setcookie")
    body = assert_page(response, HTTPStatus.SEE_OTHER)
    assert response.headers["Location"] == "/"
    assert "Continue to /" in body
    assert "Set-Cookie" not in response.headers


# Reading the cookie


def test_getcookie_without_a_cookie_says_no_user_is_set(client):
    response = client.get("/getcookie")
    body = assert_page(response, HTTPStatus.OK, private=True)
    assert "<h1>No user is set</h1>" in body
    assert '<a href="/">' in body
    assert "welcome" not in body
    assert "Set-Cookie" not in response.headers


def test_getcookie_ignores_other_cookies(raw_client):
    response = raw_client.get("/getcookie", headers={"Cookie": "theme=dark; session=abc"})
    assert "<h1>No user is set</h1>" in assert_page(response, HTTPStatus.OK, private=True)
    assert "Set-Cookie" not in response.headers


def test_getcookie_finds_the_cookie_among_others(raw_client):
    cookie = f"theme=dark; userID={sign('Zoë')}; other=1"
    response = raw_client.get("/getcookie", headers={"Cookie": cookie})
    assert welcome("Zoë") in assert_page(response, HTTPStatus.OK, private=True)
    assert "Set-Cookie" not in response.headers


BAD_COOKIES = {
    "unsigned": "userID=alice",
    "empty": "userID=",
    "tampered-name": "userID=" + sign("alice").replace("alice", "mallory"),
    "truncated-signature": "userID=" + sign("alice")[:-4],
    "no-signature": "userID=" + sign("alice").rsplit(".", 1)[0] + ".",
    "wrong-key": "userID=" + sign("alice", key="another-key"),
    "wrong-salt": "userID=" + sign("alice", salt="itsdangerous.Signer"),
    "sha1-signature": "userID=alice."
    + Signer(TEST_KEY, salt="wsgiapp.userID").get_signature("alice").decode(),
    "non-utf8": "userID=\xff\xfe",
    # Made before names were percent-encoded: the signature holds, but the app spells these
    # names otherwise now ("100%25", "%2541", "Jos%C3%A9").
    "old-percent": "userID=" + sign_payload("100%"),
    "old-escape": "userID=" + sign_payload("%41"),
    "old-quoted": dump_cookie("userID", sign_payload("José")).split("; ")[0],
    # Signed with the key, but never issued: the app refuses these names.
    "signed-blank": "userID=" + sign("   "),
    "signed-control-character": "userID=" + sign("a\x00b"),
    "signed-65-characters": "userID=" + sign("a" * 65),
    # Two of one name: which is ours cannot be told, so neither is.
    "twice-the-same": f"userID={sign('alice')}; userID={sign('alice')}",
    "two-users": f"userID={sign('alice')}; userID={sign('bob')}",
    "one-good-one-bad": f"userID={sign('alice')}; userID=x",
}


def respelled(value: str, how: str) -> str:
    """The same signature bytes in another spelling than the app's unpadded base64url."""
    payload, _, signature = value.rpartition(".")
    if how == "padding":
        other = signature + "="
    elif how == "alphabet":
        other = signature.replace("-", "+").replace("_", "/")
    else:
        # 43 characters carry 258 bits: the last one's 2 low bits are not part of the digest.
        alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
        other = signature[:-1] + alphabet[alphabet.index(signature[-1]) + 1]
    assert other != signature
    assert base64.b64decode(other.replace("-", "+").replace("_", "/") + "=") == base64.urlsafe_b64decode(
        signature + "="
    )
    return f"{payload}.{other}"


# A name whose signature holds a "-" or "_", which have other spellings in base64.
URLSAFE_NAME = next(name for name in (f"user{i}" for i in range(1000)) if {"-", "_"} & set(sign(name)[-43:]))


@pytest.mark.parametrize("how", ["padding", "alphabet", "low-bits"])
def test_another_spelling_of_the_signature_is_refused(raw_client, how):
    value = sign(URLSAFE_NAME)
    response = raw_client.get("/getcookie", headers={"Cookie": f"userID={value}"})
    assert welcome(URLSAFE_NAME) in assert_page(response, HTTPStatus.OK, private=True)
    response = raw_client.get("/getcookie", headers={"Cookie": f"userID={respelled(value, how)}"})
    assert "<h1>No user is set</h1>" in assert_page(response, HTTPStatus.OK, private=True)
    assert attrs(response.headers["Set-Cookie"]) == CLEARED


@pytest.mark.parametrize("name", ["alice", "dots.in.name", "a=b", "it's-me_(2)!", "~tilde`"])
def test_cookies_made_before_encoding_still_verify_where_it_left_them_alone(raw_client, name):
    # Before names were encoded, the name itself was signed: for these it is the same value.
    response = raw_client.get("/getcookie", headers={"Cookie": f"userID={sign_payload(name)}"})
    assert welcome(name) in assert_page(response, HTTPStatus.OK, private=True)
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("cookie", BAD_COOKIES.values(), ids=BAD_COOKIES.keys())
def test_a_bad_cookie_is_refused_and_cleared(raw_client, cookie):
    response = raw_client.get("/getcookie", headers={"Cookie": cookie})
    body = assert_page(response, HTTPStatus.OK, private=True)
    assert "<h1>No user is set</h1>" in body
    assert "welcome" not in body
    assert attrs(response.headers["Set-Cookie"]) == CLEARED


@pytest.mark.parametrize("cookie", ['userID="alice.abc', '=alice; "x=1', "userid=alice"])
def test_a_cookie_header_that_does_not_parse_is_no_user(raw_client, cookie):
    # Werkzeug skips what it cannot parse, so there is no userID cookie to clear.
    response = raw_client.get("/getcookie", headers={"Cookie": cookie})
    assert "<h1>No user is set</h1>" in assert_page(response, HTTPStatus.OK, private=True)
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize(
    "cookie",
    ["__Host-userID=x", f"__Host-userID={sign('alice')}; __Host-userID={sign('bob')}"],
    ids=["bad", "two"],
)
def test_a_bad_cookie_over_https_is_cleared_as_a_secure_host_cookie(raw_client, cookie):
    response = raw_client.get("/getcookie", headers={"Cookie": cookie}, base_url="https://localhost")
    assert "<h1>No user is set</h1>" in assert_page(response, HTTPStatus.OK, private=True)
    assert attrs(response.headers["Set-Cookie"]) == CLEARED_HTTPS


# Keys


def test_key_rotation_accepts_old_cookies_and_signs_with_the_new_key():
    old_cookie = {"Cookie": f"userID={sign('alice', key='old-key')}"}
    rotated = BufferedClient(validator(make_test_app("new-key", "older-key", "old-key")), use_cookies=False)
    response = rotated.get("/getcookie", headers=old_cookie)
    assert welcome("alice") in assert_page(response, HTTPStatus.OK, private=True)
    assert "Set-Cookie" not in response.headers
    response = login(rotated, "bob")
    assert attrs(response.headers["Set-Cookie"]) == {
        f"userID={sign('bob', key='new-key')}",
        *COOKIE_ATTRIBUTES,
    }

    forgetful = BufferedClient(validator(make_test_app("new-key")), use_cookies=False)
    response = forgetful.get("/getcookie", headers=old_cookie)
    assert "<h1>No user is set</h1>" in response.get_data(as_text=True)
    assert attrs(response.headers["Set-Cookie"]) == CLEARED


# Logging out


def test_deletecookie_clears_the_cookie_and_redirects(client):
    login(client, "alice")
    response = client.post("/deletecookie")
    body = assert_page(response, HTTPStatus.SEE_OTHER, private=True)
    assert response.headers["Location"] == "/"
    assert "Continue to /" in body
    assert attrs(response.headers["Set-Cookie"]) == CLEARED
    assert client.get_cookie("userID") is None
    assert "<h1>No user is set</h1>" in client.get("/getcookie").get_data(as_text=True)


def test_deletecookie_over_https_clears_the_host_cookie(client):
    https = {"base_url": "https://localhost"}
    login(client, "alice", **https)
    assert client.get_cookie("__Host-userID") is not None
    response = client.post("/deletecookie", **https)
    assert response.status_code == 303
    assert attrs(response.headers["Set-Cookie"]) == CLEARED_HTTPS
    assert client.get_cookie("__Host-userID") is None
    assert "<h1>No user is set</h1>" in client.get("/getcookie", **https).get_data(as_text=True)


def test_welcome_page_has_a_logout_button(client):
    login(client, "alice")
    body = client.get("/getcookie").get_data(as_text=True)
    assert '<form action="/deletecookie" method="POST">' in body
    assert '<button type="submit">Log out</button>' in body


# Cross-site requests (Go 1.25's CrossOriginProtection)


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "something-new"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost"},
        {"Origin": "null"},
        {"Origin": "http://evil.example"},
        {"Origin": "http://localhost:8080"},
        {"Origin": "https://localhost"},
        {"Origin": "http://localhost.evil.example"},
        {"Origin": "http://localhost@evil.example"},
        {"Origin": "http://evil.example@localhost"},
        {"Origin": "http://localhost/"},
    ],
)
def test_cross_site_posts_are_refused(client, headers):
    for path in ("/setcookie", "/deletecookie"):
        response = client.post(path, data={"nm": "mallory"}, headers=headers)
        body = assert_page(response, HTTPStatus.FORBIDDEN)
        assert "Cross-site form posts are refused." in body
        assert "Set-Cookie" not in response.headers
    assert client.get_cookie("userID") is None


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_cross_site_links_are_followed(client, method, site):
    """A link from another site to the welcome page works: only unsafe methods are refused."""
    login(client, "alice")
    response = client.open("/getcookie", method=method, headers={"Sec-Fetch-Site": site})
    assert response.status_code == 200
    if method == "GET":
        assert welcome("alice") in response.get_data(as_text=True)
    response = client.open(
        "/", method=method, headers={"Sec-Fetch-Site": site, "Origin": "https://evil.example"}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("environ", "origin", "status"),
    [
        # No Host header (HTTP/1.0): the server's own name and port make the origin.
        (
            {"HTTP_HOST": "", "SERVER_NAME": "example.org", "SERVER_PORT": "8080"},
            "http://example.org:8080",
            200,
        ),
        ({"HTTP_HOST": "", "SERVER_NAME": "example.org", "SERVER_PORT": "8080"}, "http://localhost", 403),
        # Host wins over SERVER_NAME, as a proxy passes the site's own name.
        (
            {"HTTP_HOST": "site.example", "SERVER_NAME": "10.0.0.5", "SERVER_PORT": "80"},
            "http://site.example",
            200,
        ),
        (
            {"HTTP_HOST": "site.example", "SERVER_NAME": "10.0.0.5", "SERVER_PORT": "80"},
            "http://10.0.0.5",
            403,
        ),
    ],
)
def test_the_request_origin_without_host_or_behind_a_proxy(raw_client, environ, origin, status):
    response = raw_client.post(
        "/setcookie", data={"nm": "alice"}, headers={"Origin": origin}, environ_overrides=environ
    )
    assert response.status_code == status


def test_cross_site_logout_is_refused(client):
    login(client, "alice")
    response = client.post("/deletecookie", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    assert "Set-Cookie" not in response.headers
    assert welcome("alice") in client.get("/getcookie").get_data(as_text=True)


@pytest.mark.parametrize(
    ("base_url", "headers"),
    [
        ("http://localhost", {}),
        ("http://localhost", {"Sec-Fetch-Site": "same-origin"}),
        ("http://localhost", {"Sec-Fetch-Site": "none"}),
        ("http://localhost", {"Sec-Fetch-Site": "same-origin", "Origin": "http://elsewhere.example"}),
        ("http://localhost", {"Origin": "http://localhost"}),
        ("http://localhost", {"Origin": "HTTP://LocalHost:80"}),
        ("http://localhost:8000", {"Origin": "http://localhost:8000"}),
        ("https://example.com", {"Origin": "https://example.com"}),
        ("https://example.com:443", {"Origin": "https://example.com"}),
    ],
)
def test_same_origin_posts_pass(client, base_url, headers):
    response = login(client, "alice", base_url=base_url, headers=headers)
    assert response.status_code == 200
    name = "__Host-userID" if base_url.startswith("https:") else "userID"
    assert response.headers["Set-Cookie"].split("; ")[0] == f"{name}={sign('alice')}"


# Paths and methods


@pytest.mark.parametrize(
    "path", ["/nope", "/getcookie/", "//", "//getcookie", "/index.html", "/setcookie/..", "/../", "/\x00"]
)
def test_unknown_paths_are_404(client, path):
    for method in ("GET", "POST"):
        # PATH_INFO as a server hands it over, already unquoted.
        response = client.open("/", method=method, environ_overrides={"PATH_INFO": path})
        body = assert_page(response, HTTPStatus.NOT_FOUND)
        assert "There is no page at this address." in body
        assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize(
    ("path", "method", "allow"),
    [
        ("/", "POST", "GET, HEAD, OPTIONS"),
        ("/", "DELETE", "GET, HEAD, OPTIONS"),
        ("/", "get", "GET, HEAD, OPTIONS"),
        ("/setcookie", "PUT", "GET, HEAD, OPTIONS, POST"),
        ("/getcookie", "POST", "GET, HEAD, OPTIONS"),
        ("/deletecookie", "GET", "OPTIONS, POST"),
        ("/deletecookie", "HEAD", "OPTIONS, POST"),
        ("/deletecookie", "BREW", "OPTIONS, POST"),
        ("/robots.txt", "POST", "GET, HEAD, OPTIONS"),
        ("/favicon.svg", "PUT", "GET, HEAD, OPTIONS"),
    ],
)
def test_wrong_methods_are_405_with_allow(path, method, allow):
    # wsgiref's validator warns on methods it does not know ("get", "BREW"): leave it out here.
    response = BufferedClient(TEST_APP).open(path, method=method)
    assert response.status_code == 405
    assert response.headers["Allow"] == allow
    if method != "HEAD":
        assert f"This page takes {allow}." in assert_page(response, HTTPStatus.METHOD_NOT_ALLOWED)
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/", "GET, HEAD, OPTIONS"),
        ("/setcookie", "GET, HEAD, OPTIONS, POST"),
        ("/deletecookie", "OPTIONS, POST"),
    ],
)
def test_options_answers_204_with_allow(client, path, allow):
    response = client.options(path)
    assert response.status_code == 204
    assert response.headers["Allow"] == allow
    assert "Content-Type" not in response.headers
    assert "Content-Length" not in response.headers
    assert response.get_data() == b""
    # The security headers still go with it.
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_allow_lists_every_method_of_every_path():
    """Stated here, not rebuilt from the route table: a route added or lost shows."""
    assert wsgiapp.ALLOW == ALLOW


# Errors


def test_an_exception_is_a_plain_500_with_the_traceback_in_the_log(monkeypatch):
    def broken(environ, app):
        raise RuntimeError("secret detail")

    monkeypatch.setitem(wsgiapp.ROUTES, "/", {"GET": broken})
    environ = EnvironBuilder(path="/", errors_stream=io.StringIO()).get_environ()
    # Werkzeug's test client re-raises any exc_info; a server (PEP 3333) sends the page.
    answer = run_app(TEST_APP, environ)
    assert answer.status == 500
    assert {name: answer.header(name) for name in PAGE_HEADERS} == PAGE_HEADERS
    assert answer.header("Content-Length") == str(len(answer.body))
    assert answer.exc_info[0] is RuntimeError
    assert "Something went wrong on our side." in answer.text
    assert "secret detail" not in answer.text
    assert "Traceback" in answer.errors
    assert "RuntimeError: secret detail" in answer.errors


def test_a_double_dollar_in_a_template_is_a_literal_dollar(monkeypatch, tmp_path):
    (tmp_path / "price.html").write_text("<p>$$5 for $$name, or $name</p>")
    monkeypatch.setattr(wsgiapp, "HTML_DIR", tmp_path)
    body = wsgiapp.render(wsgiapp.load_page("price", title="Price $$"), name="$title").decode()
    assert "<p>$5 for $name, or $title</p>" in body
    assert "<title>Price $$</title>" in body


def test_render_escapes_every_value():
    body = wsgiapp.render(wsgiapp.ERROR_PAGE, title="<t>", message="a & \"b\" 'c'").decode()
    assert "<title>&lt;t&gt;</title>" in body
    assert "<p>a &amp; &quot;b&quot; &#x27;c&#x27;</p>" in body
