"""Pages and routing, in process: the form page, the files served as they are, every answer that
does not depend on a cookie (exactly), HEAD, 404, 405 and OPTIONS, the templates and the 500 page."""

import base64
import hashlib
import importlib.util
import re
from http import HTTPStatus

import pytest

import wsgiapp
from tests.helpers.inprocess import assert_page
from tests.helpers.inprocess import call
from tests.helpers.oracle import ALLOW
from tests.helpers.oracle import COOKIE_PATHS
from tests.helpers.oracle import CSP
from tests.helpers.oracle import HTML
from tests.helpers.oracle import INDEX
from tests.helpers.oracle import NOT_ALLOWED
from tests.helpers.oracle import NOT_FOUND
from tests.helpers.oracle import NOUSER
from tests.helpers.oracle import PRIVATE
from tests.helpers.oracle import REDIRECT
from tests.helpers.oracle import SECURITY_HEADERS
from tests.helpers.oracle import SERVER_ERROR
from tests.helpers.oracle import STATIC
from tests.helpers.oracle import TEST_KEY
from tests.helpers.oracle import URLENCODED
from tests.helpers.oracle import message_answer
from tests.helpers.oracle import page
from tests.helpers.oracle import page_headers
from tests.helpers.oracle import private
from tests.helpers.oracle import private_headers
from tests.helpers.oracle import signed
from tests.helpers.oracle import status_line
from tests.helpers.oracle import welcome_answer
from tests.helpers.oracle import welcome_page

# The form page and the files


def test_index_shows_the_form(client):
    response = client.get("/")
    body = assert_page(response, HTTPStatus.OK)
    assert "<title>Enter userID</title>" in body
    assert '<form action="/setcookie" method="POST">' in body
    assert '<h1><label for="nm">Enter userID</label></h1>' in body
    assert (
        '<input type="text" id="nm" name="nm" value="" required maxlength="64" autocomplete="username"'
        ' aria-invalid="false" aria-describedby="nm-error">'
    ) in body
    assert '<p class="error" id="nm-error" role="alert"></p>' in body
    assert '<button type="submit">Login</button>' in body
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


# Their status and headers are in ANSWERS, below: here, what they hold.


def test_robots_txt_lets_crawlers_see_every_page():
    assert call("GET", "/robots.txt").body == (
        b"# Every page may be crawled: none holds more than the form and its answers.\n"
        b"User-agent: *\n"
        b"Disallow:\n"
    )


def test_the_declared_icon_is_served():
    body = call("GET", "/favicon.svg").body
    assert body.startswith(b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">')
    assert body.endswith(b"</svg>\n")


def test_style_hash_in_csp_matches_the_page(client):
    body = client.get("/").get_data()
    style = re.search(rb"<style>(.*?)</style>", body, re.DOTALL).group(1)
    assert f"'sha256-{base64.b64encode(hashlib.sha256(style).digest()).decode()}'" in CSP
    assert b"<script" not in body


# Every answer that does not depend on a cookie: method, path -> status line, header list, body.

ROBOTS = (HTML / "robots.txt").read_bytes()
ICON = (HTML / "favicon.svg").read_bytes()


def on(path: str, answer: tuple[str, list, bytes]) -> tuple[str, list, bytes]:
    """The answer as this path gives it: on a route of the cookie's, never cached."""
    return private(answer) if path in COOKIE_PATHS else answer


def not_allowed(path: str) -> tuple[str, list, bytes]:
    return on(path, message_answer(HTTPStatus.METHOD_NOT_ALLOWED, NOT_ALLOWED, ("Allow", ALLOW[path])))


def options(path: str) -> tuple[str, list, bytes]:
    return on(path, (status_line(HTTPStatus.NO_CONTENT), [("Allow", ALLOW[path]), *SECURITY_HEADERS], b""))


ANSWERS = {
    ("GET", "/"): ("200 OK", page_headers(INDEX), INDEX),
    ("GET", "/setcookie"): ("303 See Other", private_headers(REDIRECT, ("Location", "/")), REDIRECT),
    ("GET", "/robots.txt"): (
        "200 OK",
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            *SECURITY_HEADERS,
            STATIC,
            ("Content-Length", str(len(ROBOTS))),
        ],
        ROBOTS,
    ),
    ("GET", "/favicon.svg"): (
        "200 OK",
        [("Content-Type", "image/svg+xml"), *SECURITY_HEADERS, STATIC, ("Content-Length", str(len(ICON)))],
        ICON,
    ),
    ("GET", "/nope"): message_answer(HTTPStatus.NOT_FOUND, NOT_FOUND),
    ("POST", "/"): not_allowed("/"),
    ("PUT", "/setcookie"): not_allowed("/setcookie"),
    ("GET", "/deletecookie"): not_allowed("/deletecookie"),
    ("DELETE", "/robots.txt"): not_allowed("/robots.txt"),
    ("OPTIONS", "/"): options("/"),
    ("OPTIONS", "/setcookie"): options("/setcookie"),
    ("OPTIONS", "/getcookie"): options("/getcookie"),
    ("OPTIONS", "/deletecookie"): options("/deletecookie"),
    ("OPTIONS", "/favicon.svg"): options("/favicon.svg"),
}


def fresh_module() -> object:
    """wsgiapp.py imported anew, as a server imports it: its pages, routes and Allow lists built now."""
    spec = importlib.util.spec_from_file_location("wsgiapp", wsgiapp.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("method", "path"), ANSWERS.keys(), ids=[f"{m} {p}" for m, p in ANSWERS])
def test_every_fixed_answer_is_exact(method, path):
    answer = call(method, path)
    assert answer.exact == ANSWERS[method, path]
    assert answer.errors == ""


def test_a_freshly_imported_app_gives_the_same_exact_answers():
    module = fresh_module()
    app = module.App(module.Settings((TEST_KEY,)))
    for (method, path), expected in ANSWERS.items():
        assert call(method, path, app=app).exact == expected, (method, path)
    answer = call("GET", "/getcookie", app=app, cookie=signed("al<i>ce", TEST_KEY))
    assert answer.exact == welcome_answer("al<i>ce")
    assert call("GET", "/getcookie", app=app).body == NOUSER
    assert call("HEAD", "/robots.txt", app=app).exact[1:] == (ANSWERS["GET", "/robots.txt"][1], b"")


def test_an_empty_path_is_the_start_page():
    """PATH_INFO may be empty (PEP 3333: the app's own root, without its slash)."""
    assert call("GET", "").exact == ANSWERS["GET", "/"]


@pytest.mark.parametrize("path", ["/", "/getcookie", "/setcookie", "/favicon.svg"])
def test_head_has_the_get_headers_and_no_body(path):
    status, headers, _ = call("GET", path).exact
    assert call("HEAD", path).exact == (status, headers, b"")


# Paths and methods


@pytest.mark.parametrize(
    "path", ["/nope", "/getcookie/", "//", "//getcookie", "/index.html", "/setcookie/..", "/../", "/\x00"]
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unknown_paths_are_404(method, path):
    # PATH_INFO as a server hands it over, already unquoted.
    answer = call(method, path)
    assert answer.exact == message_answer(HTTPStatus.NOT_FOUND, NOT_FOUND)


# Beside the 405s of ANSWERS.
@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/", "DELETE"),
        ("/", "get"),
        ("/getcookie", "POST"),
        ("/deletecookie", "HEAD"),
        ("/deletecookie", "BREW"),
        ("/robots.txt", "POST"),
        ("/favicon.svg", "PUT"),
    ],
)
def test_wrong_methods_are_405_with_allow(path, method):
    status, headers, body = not_allowed(path)
    assert call(method, path).exact == (status, headers, b"" if method == "HEAD" else body)


def test_allow_lists_every_method_of_every_path():
    """Stated here, not rebuilt from the route table: a route added or lost shows."""
    assert {path: route.allow for path, route in wsgiapp.ROUTES.items()} == ALLOW


def failing(environ, app):
    raise RuntimeError("a bug")


# Every status each route can give, and a request that gets it (500: a handler that fails).
STATUSES = [
    ("/", "GET", {}, 200),
    ("/", "OPTIONS", {}, 204),
    ("/", "POST", {}, 405),
    ("/", "GET", {"fail": True}, 500),
    ("/favicon.svg", "GET", {}, 200),
    ("/robots.txt", "GET", {}, 200),
    ("/nope", "GET", {}, 404),
    ("/setcookie", "POST", {"body": b"nm=alice", "content_type": URLENCODED}, 200),
    ("/setcookie", "GET", {}, 303),
    ("/setcookie", "OPTIONS", {}, 204),
    ("/setcookie", "POST", {"body": b"nm=", "content_type": URLENCODED}, 400),
    ("/setcookie", "POST", {"body": b"nm=al%FFice", "content_type": URLENCODED}, 400),
    (
        "/setcookie",
        "POST",
        {"body": b"nm=alice", "content_type": URLENCODED, "HTTP_ORIGIN": "http://evil"},
        403,
    ),
    ("/setcookie", "PUT", {}, 405),
    ("/setcookie", "POST", {"body": b"nm=" + b"a" * 20000, "content_type": URLENCODED}, 413),
    ("/setcookie", "POST", {"body": b"nm=alice", "content_type": "text/plain"}, 415),
    ("/setcookie", "POST", {"fail": True}, 500),
    ("/getcookie", "GET", {}, 200),
    ("/getcookie", "GET", {"cookie": "userID=forged"}, 200),
    ("/getcookie", "OPTIONS", {}, 204),
    ("/getcookie", "POST", {}, 405),
    ("/getcookie", "GET", {"fail": True}, 500),
    ("/deletecookie", "POST", {}, 303),
    ("/deletecookie", "POST", {"HTTP_ORIGIN": "http://evil"}, 403),
    ("/deletecookie", "OPTIONS", {}, 204),
    ("/deletecookie", "GET", {}, 405),
    ("/deletecookie", "POST", {"fail": True}, 500),
]


@pytest.mark.parametrize(
    ("path", "method", "request_", "status"), STATUSES, ids=[f"{m} {p} {s}" for p, m, _, s in STATUSES]
)
def test_the_cookies_routes_are_never_cached_whatever_the_status(monkeypatch, path, method, request_, status):
    """Every answer of a route that reads or writes the cookie ends with Cache-Control: no-store and
    Vary: Cookie, whatever its status (the 403 included); no other answer carries them."""
    request_ = dict(request_)
    if request_.pop("fail", False):
        monkeypatch.setitem(wsgiapp.ROUTES[path].methods, method, failing)
    answer = call(method, path, **request_)
    assert answer.status == status
    cache = [(name, value) for name, value in answer.headers if name in ("Cache-Control", "Vary")]
    if path in COOKIE_PATHS:
        assert cache == PRIVATE
        assert answer.headers[-2:] == PRIVATE
    else:
        assert ("Cache-Control", "no-store") not in cache
        assert ("Vary", "Cookie") not in cache


# The templates


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


def test_a_double_dollar_in_a_template_is_a_literal_dollar(monkeypatch, tmp_path):
    (tmp_path / "price.html").write_text("<p>$$5 for $$name, or $name</p>")
    monkeypatch.setattr(wsgiapp, "HTML_DIR", tmp_path)
    body = wsgiapp.render(wsgiapp.load_page("price", title="Price $$"), name="$title").decode()
    assert "<p>$5 for $name, or $title</p>" in body
    assert "<title>Price $$</title>" in body


def test_a_dollar_that_names_nothing_is_refused_with_where_it_is(monkeypatch, tmp_path):
    (tmp_path / "layout.html").write_text("<p>$main</p>")
    (tmp_path / "bad.html").write_text("ab $ 5")
    monkeypatch.setattr(wsgiapp, "HTML_DIR", tmp_path)
    monkeypatch.setattr(wsgiapp, "LAYOUT", "<p>$main</p>")
    with pytest.raises(ValueError, match=r"^html/bad\.html or html/layout\.html: a \$ at 6 names nothing$"):
        wsgiapp.load_page("bad")


def test_the_pages_are_the_templates_filled_in_with_every_value_escaped():
    body = wsgiapp.render(wsgiapp.MESSAGE_PAGE, title="<t>", message="a & \"b\" 'c'")
    assert body == page("message", title="<t>", message="a & \"b\" 'c'")
    assert b"<title>&lt;t&gt;</title>" in body
    assert b"<p>a &amp; &quot;b&quot; &#x27;c&#x27;</p>" in body
    assert wsgiapp.render(wsgiapp.WELCOME_PAGE, name="<b>") == welcome_page("<b>")


# The 500 page


def test_an_exception_is_a_plain_500_with_the_traceback_in_the_log(monkeypatch):
    def broken(environ, app):
        raise RuntimeError("secret detail")

    monkeypatch.setitem(wsgiapp.ROUTES["/"].methods, "GET", broken)
    # Werkzeug's test client would re-raise the exc_info; a server (PEP 3333) sends the page.
    answer = call("GET", "/")
    assert answer.exact == SERVER_ERROR
    assert answer.exc_info[0] is RuntimeError
    assert "secret detail" not in answer.text
    # One entry in the log: what failed, then the traceback.
    assert answer.errors.startswith("wsgiapp: GET / failed\nTraceback (most recent call last):\n")
    assert answer.errors.endswith("RuntimeError: secret detail\n")
