"""Cross-site requests, in process (Go 1.25's CrossOriginProtection rule): posts from another site
get 403, links from one are followed, and the request's own origin is worked out as a server gives it."""

from http import HTTPStatus

import pytest

from tests.helpers.inprocess import call
from tests.helpers.inprocess import submit_name
from tests.helpers.oracle import URLENCODED
from tests.helpers.oracle import refusal
from tests.helpers.oracle import sign
from tests.helpers.oracle import signed
from tests.helpers.oracle import welcome

FORBIDDEN = refusal(HTTPStatus.FORBIDDEN, "Cross-site form posts are refused.")


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
@pytest.mark.parametrize("path", ["/setcookie", "/deletecookie"])
def test_cross_site_posts_are_refused(path, headers):
    environ = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    answer = call("POST", path, b"nm=mallory", content_type=URLENCODED, **environ)
    assert answer.exact == FORBIDDEN


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_cross_site_links_are_followed(client, method, site):
    """A link from another site to the welcome page works: only unsafe methods are refused."""
    submit_name(client, "alice")
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
        # No Host header (HTTP/1.0), or an empty one: the server's own name and port make the origin.
        (
            {"HTTP_HOST": None, "SERVER_NAME": "example.org", "SERVER_PORT": "8080"},
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
def test_the_request_origin_without_host_or_behind_a_proxy(environ, origin, status):
    answer = call("POST", "/setcookie", b"nm=alice", content_type=URLENCODED, HTTP_ORIGIN=origin, **environ)
    assert answer.status == status


def test_cross_site_logout_is_refused():
    """Another site cannot log the user out: the answer clears no cookie."""
    answer = call("POST", "/deletecookie", cookie=signed("alice"), HTTP_SEC_FETCH_SITE="cross-site")
    assert answer.exact == FORBIDDEN


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
    response = submit_name(client, "alice", base_url=base_url, headers=headers)
    assert response.status_code == 200
    name = "__Host-userID" if base_url.startswith("https:") else "userID"
    assert response.headers["Set-Cookie"].split("; ")[0] == f"{name}={sign('alice')}"
