"""Behaviour that mutation testing found unchecked (tests/MUTANTS.md): exact statuses, header lists,
bodies, messages and log lines, each against an oracle written here from html/ and the README's rules.
The settings' exact refusals and warnings are in tests/test_settings.py."""

import html
import importlib.util
import io
from http import HTTPStatus
from string import Template

import pytest
from werkzeug.test import EnvironBuilder

import wsgiapp
from tests.helpers.inprocess import TEST_APP
from tests.helpers.inprocess import make_test_app
from tests.helpers.inprocess import run_app
from tests.helpers.oracle import CSP
from tests.helpers.oracle import HTML
from tests.helpers.oracle import sign
from tests.helpers.oracle import sign_payload
from tests.helpers.oracle import signed
from tests.helpers.oracle import welcome

STYLE = (HTML / "style.css").read_text("utf-8")
SECURITY = [
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", CSP),
    ("Referrer-Policy", "same-origin"),
]
PRIVATE = [("Cache-Control", "no-store"), ("Vary", "Cookie")]
KEY = "k" * 32
OTHER_KEY = "o" * 32
FORM = "application/x-www-form-urlencoded"


def line(status: HTTPStatus) -> str:
    return f"{status.value} {status.phrase}"


def oracle(fragment: str, **values: str) -> bytes:
    """html/layout.html around html/<fragment>.html, filled in by string.Template, values escaped."""
    text = (
        (HTML / "layout.html")
        .read_text("utf-8")
        .replace("$main", (HTML / f"{fragment}.html").read_text("utf-8"))
    )
    return Template(text).substitute(style=STYLE, **{k: html.escape(v) for k, v in values.items()}).encode()


def error_body(status: HTTPStatus, message: str) -> bytes:
    return oracle("error", title=line(status), message=message)


def page_headers(body: bytes, *extra: tuple[str, str]) -> list[tuple[str, str]]:
    """Every header of a page, in order, as the client receives it."""
    return [
        ("Content-Type", "text/html; charset=utf-8"),
        *SECURITY,
        *extra,
        ("Content-Length", str(len(body))),
    ]


def call(app, method: str = "GET", path: str = "/", body: bytes = b"", stream=None, **environ):
    """One request at the WSGI level, through wsgiref's validator: (status line, header list, body, log)."""
    env = EnvironBuilder(method=method, path=path, errors_stream=io.StringIO()).get_environ()
    env.update(environ)
    env["wsgi.input"] = io.BytesIO(body) if stream is None else stream
    if body and "CONTENT_LENGTH" not in environ:
        env["CONTENT_LENGTH"] = str(len(body))
    answer = run_app(app, env)
    return f"{answer.status} {answer.reason}", answer.headers, answer.body, answer.errors


# Every answer that does not depend on a cookie: method, path -> status, header list, body.
INDEX = oracle("index", title="Enter userID", max_length="64", error="")
ROBOTS = (HTML / "robots.txt").read_bytes()
ICON = (HTML / "favicon.svg").read_bytes()
STATIC = [("Cache-Control", "public, max-age=86400")]
REDIRECT = oracle("error", title="See Other", message="Continue to /")
NOT_FOUND = error_body(HTTPStatus.NOT_FOUND, "There is no page at this address.")


def not_allowed(allow: str) -> tuple[str, list, bytes]:
    body = error_body(HTTPStatus.METHOD_NOT_ALLOWED, f"This page takes {allow}.")
    return line(HTTPStatus.METHOD_NOT_ALLOWED), page_headers(body, ("Allow", allow)), body


def options(allow: str) -> tuple[str, list, bytes]:
    return line(HTTPStatus.NO_CONTENT), [("Allow", allow), *SECURITY], b""


ANSWERS = {
    ("GET", "/"): ("200 OK", page_headers(INDEX), INDEX),
    ("GET", "/setcookie"): ("303 See Other", page_headers(REDIRECT, ("Location", "/")), REDIRECT),
    ("GET", "/robots.txt"): (
        "200 OK",
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            *SECURITY,
            *STATIC,
            ("Content-Length", str(len(ROBOTS))),
        ],
        ROBOTS,
    ),
    ("GET", "/favicon.svg"): (
        "200 OK",
        [("Content-Type", "image/svg+xml"), *SECURITY, *STATIC, ("Content-Length", str(len(ICON)))],
        ICON,
    ),
    ("GET", "/nope"): (line(HTTPStatus.NOT_FOUND), page_headers(NOT_FOUND), NOT_FOUND),
    ("POST", "/"): not_allowed("GET, HEAD, OPTIONS"),
    ("PUT", "/setcookie"): not_allowed("GET, HEAD, OPTIONS, POST"),
    ("GET", "/deletecookie"): not_allowed("OPTIONS, POST"),
    ("DELETE", "/robots.txt"): not_allowed("GET, HEAD, OPTIONS"),
    ("OPTIONS", "/"): options("GET, HEAD, OPTIONS"),
    ("OPTIONS", "/setcookie"): options("GET, HEAD, OPTIONS, POST"),
    ("OPTIONS", "/getcookie"): options("GET, HEAD, OPTIONS"),
    ("OPTIONS", "/deletecookie"): options("OPTIONS, POST"),
    ("OPTIONS", "/favicon.svg"): options("GET, HEAD, OPTIONS"),
}


def fresh_module(monkeypatch) -> object:
    """wsgiapp.py imported anew, as a server imports it: its pages, routes and Allow lists built now."""
    monkeypatch.setenv("SECRET_KEY", KEY)
    monkeypatch.delenv("SECRET_KEY_FALLBACKS", raising=False)
    monkeypatch.delenv("SECRET_KEY_FILE", raising=False)
    monkeypatch.delenv("COOKIE_MAX_AGE", raising=False)
    spec = importlib.util.spec_from_file_location("wsgiapp", wsgiapp.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("method", "path"), ANSWERS.keys(), ids=[f"{m} {p}" for m, p in ANSWERS])
def test_every_fixed_answer_is_exact(method, path):
    status, headers, body, log = call(TEST_APP, method, path)
    assert (status, headers, body) == ANSWERS[method, path]
    assert log == ""


def test_a_freshly_imported_app_gives_the_same_exact_answers(monkeypatch):
    module = fresh_module(monkeypatch)
    for (method, path), answer in ANSWERS.items():
        assert call(module.application, method, path)[:3] == answer, (method, path)
    status, headers, body, _ = call(
        module.application, "GET", "/getcookie", HTTP_COOKIE=signed("al<i>ce", KEY)
    )
    page = oracle("welcome", title="Welcome", name="al<i>ce")
    assert (status, headers, body) == ("200 OK", page_headers(page, *PRIVATE), page)
    nouser = oracle("nouser", title="No user is set")
    assert call(module.application, "GET", "/getcookie")[2] == nouser
    assert call(module.application, "HEAD", "/robots.txt")[1:3] == (ANSWERS["GET", "/robots.txt"][1], b"")


def test_head_of_a_static_file_has_its_headers_and_no_body():
    status, headers, body, _ = call(TEST_APP, "HEAD", "/favicon.svg")
    assert (status, headers, body) == ("200 OK", ANSWERS["GET", "/favicon.svg"][1], b"")


# Pages and their templates


def test_the_templates_are_found_beside_the_module_or_as_installed_from_a_wheel(tmp_path):
    with pytest.raises(ImportError) as raised:
        wsgiapp.find_templates(tmp_path)
    assert str(raised.value) == (
        f"wsgiapp cannot find its templates: neither {tmp_path}/html nor {tmp_path}/wsgiapp_html exists."
        " Install it from its repository, or from a wheel built there."
    )
    (tmp_path / "wsgiapp_html").mkdir()
    assert wsgiapp.find_templates(tmp_path) == tmp_path / "wsgiapp_html"
    (tmp_path / "html").mkdir()
    assert wsgiapp.find_templates(tmp_path) == tmp_path / "html"


def test_a_dollar_that_names_nothing_is_refused_with_where_it_is(monkeypatch, tmp_path):
    (tmp_path / "layout.html").write_text("<p>$main</p>")
    (tmp_path / "bad.html").write_text("ab $ 5")
    monkeypatch.setattr(wsgiapp, "HTML_DIR", tmp_path)
    monkeypatch.setattr(wsgiapp, "LAYOUT", "<p>$main</p>")
    with pytest.raises(ValueError, match=r"^html/bad\.html or html/layout\.html: a \$ at 6 names nothing$"):
        wsgiapp.load_page("bad")


def test_the_pages_are_the_templates_filled_in():
    assert wsgiapp.render(wsgiapp.ERROR_PAGE, title="T", message="M") == oracle(
        "error", title="T", message="M"
    )
    assert wsgiapp.render(wsgiapp.WELCOME_PAGE, name="<b>") == oracle("welcome", title="Welcome", name="<b>")


# The cookie


def test_a_signed_cookie_whose_name_is_not_utf8_is_refused_and_cleared(raw_client):
    # Signed with the app's key, so only the name's bytes are wrong: %FF is no UTF-8.
    response = raw_client.get("/getcookie", headers={"Cookie": f"userID={sign_payload('%FF')}"})
    assert response.status_code == 200
    assert response.get_data() == oracle("nouser", title="No user is set")
    assert response.headers["Set-Cookie"].startswith(
        "userID=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0"
    )


def test_every_key_of_three_verifies_and_the_first_signs():
    app = make_test_app(KEY, OTHER_KEY, "third-" + "t" * 26)
    for key in (KEY, OTHER_KEY, "third-" + "t" * 26):
        status, _, body, _ = call(app, "GET", "/getcookie", HTTP_COOKIE=signed("alice", key))
        assert (status, welcome("alice").encode() in body) == ("200 OK", True), key
    _, headers, _, _ = call(app, "POST", "/setcookie", b"nm=alice", CONTENT_TYPE=FORM)
    assert ("Set-Cookie", f"userID={sign('alice', KEY)}; HttpOnly; Path=/; SameSite=Lax") in headers


# Forms: each refusal, exactly


def refusal(status: HTTPStatus, message: str) -> tuple[str, list, bytes]:
    body = error_body(status, message)
    return line(status), page_headers(body, *PRIVATE), body


class Trickle(io.RawIOBase):
    """A body that arrives a few bytes at a time, as from a socket."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, size: int = -1) -> bytes:
        size = 3 if size is None or size < 0 else min(size, 3)
        chunk, self.data = self.data[:size], self.data[size:]
        return chunk


class Broken(io.RawIOBase):
    def read(self, size: int = -1) -> bytes:
        raise ConnectionResetError("reset")


def test_a_body_that_is_not_a_form_is_refused_exactly():
    answer = call(TEST_APP, "POST", "/setcookie", b"{}", CONTENT_TYPE="application/json")
    assert answer[:3] == refusal(
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        "Send the form as application/x-www-form-urlencoded or multipart/form-data.",
    )


def test_a_body_the_client_broke_is_refused_exactly():
    answer = call(TEST_APP, "POST", "/setcookie", stream=Broken(), CONTENT_TYPE=FORM, CONTENT_LENGTH="8")
    assert answer[:3] == refusal(HTTPStatus.BAD_REQUEST, "The form could not be read.")


def test_a_malformed_multipart_body_is_refused_exactly():
    body = b"--b\r\nContent-Disposition: form-data\r\n\r\nx"
    answer = call(TEST_APP, "POST", "/setcookie", body, CONTENT_TYPE="multipart/form-data; boundary=b")
    assert answer[:3] == refusal(HTTPStatus.BAD_REQUEST, "The form could not be read.")


def test_an_escape_that_is_not_utf8_is_refused_exactly():
    answer = call(TEST_APP, "POST", "/setcookie", b"nm=al%FFice", CONTENT_TYPE=FORM)
    assert answer[:3] == refusal(HTTPStatus.BAD_REQUEST, "The form could not be read.")


def test_a_form_of_nine_fields_is_refused_exactly():
    answer = call(TEST_APP, "POST", "/setcookie", b"nm=a" + b"&x=1" * 8, CONTENT_TYPE=FORM)
    assert answer[:3] == refusal(
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "The form may hold at most 16384 bytes in 8 parts."
    )


def test_a_short_body_is_refused_exactly():
    answer = call(TEST_APP, "POST", "/setcookie", b"nm=al", CONTENT_TYPE=FORM, CONTENT_LENGTH="100")
    assert answer[:3] == refusal(HTTPStatus.BAD_REQUEST, "The form ended before its announced length.")


def test_a_body_read_in_small_pieces_is_read_whole():
    answer = call(
        TEST_APP, "POST", "/setcookie", stream=Trickle(b"nm=alice"), CONTENT_TYPE=FORM, CONTENT_LENGTH="8"
    )
    assert ("Set-Cookie", f"userID={sign('alice')}; HttpOnly; Path=/; SameSite=Lax") in answer[1]


def test_only_content_length_bytes_are_read():
    # What follows the body on the stream is not the form's (PEP 3333: read no more than CONTENT_LENGTH).
    stream = io.BytesIO(b"nm=alice&nm=mallory")
    answer = call(TEST_APP, "POST", "/setcookie", stream=stream, CONTENT_TYPE=FORM, CONTENT_LENGTH="8")
    assert answer[0] == "200 OK"
    assert stream.read() == b"&nm=mallory"


def form_again(message: str) -> tuple[str, list, bytes]:
    """400 with the form again and this message above it."""
    body = oracle("index", title="Enter userID", max_length="64", error=message)
    return line(HTTPStatus.BAD_REQUEST), page_headers(body, *PRIVATE), body


@pytest.mark.parametrize(
    ("content_type", "refused"),
    [
        (FORM, form_again("Please enter a user ID.")),
        ("multipart/form-data; boundary=b", refusal(HTTPStatus.BAD_REQUEST, "The form could not be read.")),
    ],
    ids=["urlencoded", "multipart"],
)
def test_without_a_length_or_an_ended_stream_the_body_is_not_read(content_type, refused):
    # PEP 3333: no Content-Length and no wsgi.input_terminated: the app reads nothing.
    stream = io.BytesIO(b"nm=alice")
    answer = call(TEST_APP, "POST", "/setcookie", stream=stream, CONTENT_TYPE=content_type, CONTENT_LENGTH="")
    assert answer[:3] == refused
    assert stream.read() == b"nm=alice"


def test_a_cross_site_post_is_refused_exactly():
    answer = call(TEST_APP, "POST", "/deletecookie", HTTP_SEC_FETCH_SITE="cross-site")
    body = error_body(HTTPStatus.FORBIDDEN, "Cross-site form posts are refused.")
    assert answer[:3] == (line(HTTPStatus.FORBIDDEN), page_headers(body), body)


def test_logout_redirects_exactly():
    answer = call(TEST_APP, "POST", "/deletecookie")
    cleared = "userID=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; Path=/; SameSite=Lax"
    headers = page_headers(REDIRECT, ("Location", "/"), ("Set-Cookie", cleared), *PRIVATE)
    assert answer[:3] == ("303 See Other", headers, REDIRECT)
