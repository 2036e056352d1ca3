"""WSGI-level tests of every route, the cookie and its signature, the limits and the headers."""

import base64
import hashlib
import html
import io
import logging
import re
import time
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from pathlib import Path
from wsgiref.validate import validator

import pytest
from conftest import TEST_KEY
from conftest import BufferedClient
from itsdangerous import Signer
from werkzeug.test import EnvironBuilder
from werkzeug.test import run_wsgi_app

import wsgiapp

FORM = "application/x-www-form-urlencoded"
STYLE = (Path(wsgiapp.__file__).parent / "html" / "style.css").read_bytes()
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE).digest()).decode()
CSP = (
    f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "same-origin",
}
COOKIE_ATTRS = {"HttpOnly", "Path=/", "SameSite=Lax"}
CLEARED = {"userID=", "Expires=Thu, 01 Jan 1970 00:00:00 GMT", "Max-Age=0", *COOKIE_ATTRS}


def sign(name: str, key: str = TEST_KEY, salt: str = "wsgiapp.userID") -> str:
    """The cookie value the app should make, computed with itsdangerous directly."""
    signer = Signer(key, salt=salt, key_derivation="hmac", digest_method=hashlib.sha256)
    return signer.sign(name.encode()).decode()


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


def welcome(name: str) -> str:
    return f"<h1>welcome {html.escape(name)}</h1>"


@pytest.fixture
def raw_client():
    """A client that sends only the Cookie header a test gives it."""
    return BufferedClient(validator(wsgiapp.application), use_cookies=False)


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
    assert attrs(response.headers["Set-Cookie"]) == {f"userID={sign('alice')}", *COOKIE_ATTRS}
    assert len(response.headers.getlist("Set-Cookie")) == 1


def test_setcookie_accepts_multipart(client):
    response = client.post("/setcookie", data={"nm": "bob"}, content_type="multipart/form-data")
    assert_page(response, HTTPStatus.OK, private=True)
    assert client.get_cookie("userID").decoded_value == sign("bob")


def test_setcookie_over_https_is_secure(client):
    response = login(client, "alice", base_url="https://localhost")
    assert attrs(response.headers["Set-Cookie"]) == {f"userID={sign('alice')}", "Secure", *COOKIE_ATTRS}


def test_cookie_max_age_makes_it_persistent(client, monkeypatch):
    monkeypatch.setattr(wsgiapp, "COOKIE_MAX_AGE", 3600)
    response = login(client, "alice")
    parts = attrs(response.headers["Set-Cookie"])
    expires = {part for part in parts if part.startswith("Expires=")}
    assert parts - expires == {f"userID={sign('alice')}", "Max-Age=3600", *COOKIE_ATTRS}
    (expires,) = expires
    when = parsedate_to_datetime(expires.removeprefix("Expires=")).timestamp()
    assert abs(when - (time.time() + 3600)) < 60


NAMES = [
    "alice",
    "Zoë Ångström",
    "李小龙",
    "😀 family 👨‍👩‍👧",
    "semi;colon",
    "com,ma",
    'dou"ble"',
    "back\\slash",
    " spaced out ",
    "dots.in.name",
    "%41 not decoded",
    "é" * 64,
    "😀" * 64,
]


@pytest.mark.parametrize("name", NAMES)
def test_any_name_round_trips_exactly(client, name):
    assert login(client, name).status_code == 200
    assert client.get_cookie("userID").decoded_value == sign(name)
    response = client.get("/getcookie")
    body = assert_page(response, HTTPStatus.OK, private=True)
    assert welcome(name) in body
    assert "Set-Cookie" not in response.headers


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
    ],
    ids=["no-boundary", "truncated", "garbage", "not-utf8"],
)
def test_a_broken_form_is_400(client, content_type, data):
    response = client.post("/setcookie", data=data, content_type=content_type)
    body = assert_page(response, HTTPStatus.BAD_REQUEST, private=True)
    assert "The form could not be read." in body
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
    ],
    ids=["urlencoded", "long-name", "too-many-parts", "big-part"],
)
def test_a_form_over_the_limits_is_413(client, content_type, data):
    response = client.post("/setcookie", data=data, content_type=content_type)
    body = assert_page(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, private=True)
    assert "at most 16384 bytes in 8 parts" in body
    assert "Set-Cookie" not in response.headers


def chunked_post(body: bytes):
    """POST a body the way a server hands over a chunked one: no Content-Length, stream terminated."""
    builder = EnvironBuilder(method="POST", path="/setcookie", content_type=FORM)
    environ = builder.get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["wsgi.input_terminated"] = True
    app_iter, status, headers = run_wsgi_app(validator(wsgiapp.application), environ, buffered=True)
    return status, headers, b"".join(app_iter)


@pytest.mark.parametrize(
    "body",
    [b"nm=" + b"a" * 40_000, b"nm=alice&pad=" + b"x" * 40_000, b"nm=alice&pad=" + b"x" * 16_372],
    ids=["long-name", "padded", "one-byte-over"],
)
def test_a_chunked_body_over_the_cap_is_413(body):
    status, headers, page_body = chunked_post(body)
    assert status == "413 Request Entity Too Large"
    assert "Set-Cookie" not in headers
    assert b"at most 16384 bytes in 8 parts" in page_body


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"nm=alice", "200 OK"),
        (b"nm=alice&pad=" + b"x" * 16_371, "200 OK"),
        (b"nm=" + b"a" * 1000, "400 Bad Request"),
    ],
    ids=["short", "exactly-at-the-cap", "name-too-long"],
)
def test_a_chunked_body_within_the_cap_is_read_whole(body, status):
    got, headers, _ = chunked_post(body)
    assert got == status
    if status == "200 OK":
        assert attrs(headers["Set-Cookie"]) == {f"userID={sign('alice')}", *COOKIE_ATTRS}
    else:
        assert "Set-Cookie" not in headers


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
    cookie = f'theme=dark; userID="{sign("Zoë")}"; other=1'.replace("ë", "\\303\\253")
    response = raw_client.get("/getcookie", headers={"Cookie": cookie})
    assert welcome("Zoë") in assert_page(response, HTTPStatus.OK, private=True)


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
}


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


def test_a_bad_cookie_over_https_is_cleared_as_secure(raw_client):
    response = raw_client.get("/getcookie", headers={"Cookie": "userID=x"}, base_url="https://localhost")
    assert attrs(response.headers["Set-Cookie"]) == {*CLEARED, "Secure"}


# Keys


def test_key_rotation_accepts_old_cookies_and_signs_with_the_new_key(raw_client, monkeypatch):
    old_cookie = {"Cookie": f"userID={sign('alice', key='old-key')}"}
    monkeypatch.setattr(wsgiapp, "SIGNER", wsgiapp.make_signer("new-key", ["older-key", "old-key"]))
    response = raw_client.get("/getcookie", headers=old_cookie)
    assert welcome("alice") in assert_page(response, HTTPStatus.OK, private=True)
    assert "Set-Cookie" not in response.headers
    response = login(raw_client, "bob")
    assert attrs(response.headers["Set-Cookie"]) == {f"userID={sign('bob', key='new-key')}", *COOKIE_ATTRS}

    monkeypatch.setattr(wsgiapp, "SIGNER", wsgiapp.make_signer("new-key"))
    response = raw_client.get("/getcookie", headers=old_cookie)
    assert "<h1>No user is set</h1>" in response.get_data(as_text=True)
    assert attrs(response.headers["Set-Cookie"]) == CLEARED


def test_load_keys_reads_the_key_and_its_fallbacks():
    env = {"SECRET_KEY": "k", "SECRET_KEY_FALLBACKS": "a, b,,"}
    assert wsgiapp.load_keys(env) == ("k", ["a", "b"])


def test_load_keys_without_a_key_makes_one_and_warns(caplog):
    env = {}
    with caplog.at_level(logging.WARNING, logger="wsgiapp"):
        key, fallbacks = wsgiapp.load_keys(env)
    assert re.fullmatch("[0-9a-f]{64}", key)
    assert fallbacks == []
    # Put back for child processes, such as the dev server's reloader.
    assert env["SECRET_KEY"] == key
    assert "SECRET_KEY is not set" in caplog.text
    assert wsgiapp.load_keys({})[0] != key


@pytest.mark.parametrize(("value", "expected"), [("", None), ("3600", 3600), ("1", 1)])
def test_load_max_age(value, expected):
    assert wsgiapp.load_max_age({"COOKIE_MAX_AGE": value}) == expected


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "soon", "١٢"])
def test_load_max_age_refuses_nonsense(value):
    with pytest.raises(ValueError, match="COOKIE_MAX_AGE must be a positive number of seconds"):
        wsgiapp.load_max_age({"COOKIE_MAX_AGE": value})


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
    assert attrs(response.headers["Set-Cookie"]) >= {f"userID={sign('alice')}"}


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
    ],
)
def test_wrong_methods_are_405_with_allow(path, method, allow):
    # wsgiref's validator warns on methods it does not know ("get", "BREW"): leave it out here.
    response = BufferedClient(wsgiapp.application).open(path, method=method)
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


def test_allow_is_built_from_the_route_table():
    assert wsgiapp.ALLOW == {
        path: wsgiapp.allowed_methods(methods) for path, methods in wsgiapp.ROUTES.items()
    }
    assert wsgiapp.allowed_methods(["GET", "POST"]) == "GET, HEAD, OPTIONS, POST"


# Errors


def test_an_exception_is_a_plain_500_with_the_traceback_in_the_log(monkeypatch):
    def broken(environ):
        raise RuntimeError("secret detail")

    monkeypatch.setitem(wsgiapp.ROUTES, "/", {"GET": broken})
    errors = io.StringIO()
    environ = EnvironBuilder(path="/", errors_stream=errors).get_environ()
    started = []

    # Werkzeug's test client re-raises any exc_info; a server (PEP 3333) sends the page.
    def start_response(status, headers, exc_info=None):
        started.append((status, dict(headers), exc_info))
        return lambda data: None

    app_iter = validator(wsgiapp.application)(environ, start_response)
    try:
        body = b"".join(app_iter).decode()
    finally:
        app_iter.close()
    ((status, headers, exc_info),) = started
    assert status == "500 Internal Server Error"
    assert {name: headers[name] for name in PAGE_HEADERS} == PAGE_HEADERS
    assert headers["Content-Length"] == str(len(body.encode()))
    assert exc_info[0] is RuntimeError
    assert "Something went wrong on our side." in body
    assert "secret detail" not in body
    assert "Traceback" in errors.getvalue()
    assert "RuntimeError: secret detail" in errors.getvalue()


def test_render_escapes_every_value():
    body = wsgiapp.render(wsgiapp.ERROR_PAGE, title="<t>", message="a & \"b\" 'c'").decode()
    assert "<title>&lt;t&gt;</title>" in body
    assert "<p>a &amp; &quot;b&quot; &#x27;c&#x27;</p>" in body
