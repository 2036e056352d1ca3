"""The user cookie, in process: set signed (over https as a __Host- cookie, with Max-Age), any name
round trips percent-encoded, read among other cookies; bad, forged or respelled ones refused and
cleared; key rotation; logout."""

import base64
import time
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from wsgiref.validate import validator

import pytest
from itsdangerous import Signer
from werkzeug.http import dump_cookie

import wsgiapp
from tests.helpers.answer import attributes
from tests.helpers.inprocess import BufferedClient
from tests.helpers.inprocess import assert_page
from tests.helpers.inprocess import call
from tests.helpers.inprocess import make_test_app
from tests.helpers.inprocess import submit_name
from tests.helpers.oracle import CLEAR_COOKIE
from tests.helpers.oracle import CLEARED
from tests.helpers.oracle import CLEARED_ANSWER
from tests.helpers.oracle import CLEARED_HTTPS
from tests.helpers.oracle import COOKIE_ATTRIBUTES
from tests.helpers.oracle import COOKIE_OCTETS
from tests.helpers.oracle import COOKIE_SALT
from tests.helpers.oracle import MULTIPART
from tests.helpers.oracle import NOUSER
from tests.helpers.oracle import REDIRECT
from tests.helpers.oracle import SECURE_COOKIE_ATTRIBUTES
from tests.helpers.oracle import TEST_KEY
from tests.helpers.oracle import URLENCODED
from tests.helpers.oracle import from_base64url
from tests.helpers.oracle import login_answer
from tests.helpers.oracle import private_headers
from tests.helpers.oracle import respelled
from tests.helpers.oracle import sign
from tests.helpers.oracle import sign_payload
from tests.helpers.oracle import signed
from tests.helpers.oracle import welcome
from tests.helpers.oracle import welcome_answer

# Setting the cookie


def test_setcookie_sets_a_signed_cookie_and_links_to_getcookie(client):
    response = submit_name(client, "alice")
    body = assert_page(response, HTTPStatus.OK, private=True)
    assert '<a href="/getcookie">' in body
    assert attributes(response.headers["Set-Cookie"]) == {f"userID={sign('alice')}", *COOKIE_ATTRIBUTES}
    assert len(response.headers.getlist("Set-Cookie")) == 1


def test_setcookie_accepts_multipart(client):
    response = client.post("/setcookie", data={"nm": "bob"}, content_type=MULTIPART)
    assert_page(response, HTTPStatus.OK, private=True)
    assert client.get_cookie("userID").decoded_value == sign("bob")


def test_setcookie_over_https_is_a_secure_host_cookie(client):
    response = submit_name(client, "alice", base_url="https://localhost")
    # The __Host- prefix requires Secure, Path=/ and no Domain.
    assert attributes(response.headers["Set-Cookie"]) == {
        f"__Host-userID={sign('alice')}",
        *SECURE_COOKIE_ATTRIBUTES,
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
    response = submit_name(client, "alice")
    parts = attributes(response.headers["Set-Cookie"])
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
    response = submit_name(client, name)
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
    response = submit_name(client, name)
    assert response.headers["Set-Cookie"].split("; ")[0] == f"userID={sign_payload(value)}"


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


# /getcookie with no user cookie: the page that says so, never cached, and no cookie set or cleared.
NO_USER_ANSWER = ("200 OK", private_headers(NOUSER), NOUSER)


# Neighbours: other sites of this host set cookies of their own, which must never disturb the user's.


@pytest.mark.parametrize(
    ("scheme", "cookie"),
    [
        # A sibling subdomain's two cookies whose values are a lone quote (Domain=example.com): as
        # Chromium sends them, around the user's. Werkzeug's parse_cookie would read `"; ...; b="`
        # as one quoted string, and the user's cookie in it.
        ("https", 'a="; __Host-userID={value}; b="'),
        ("http", 'a="; userID={value}; b="'),
        ("http", 'a="x; userID={value}'),
        ("http", "a=b,c; userID={value}; d=\xe9\xff"),
        # 8 KB of neighbours around it.
        ("http", "; ".join(f"n{number}=v{number:03d}" for number in range(1000)) + "; userID={value}; z=1"),
    ],
    ids=["quotes-https", "quotes-http", "open-quote", "odd-bytes", "8-kb-of-neighbours"],
)
def test_neighbours_never_hide_the_users_cookie(scheme, cookie):
    value = sign("alice")
    answer = call("GET", "/getcookie", cookie=cookie.format(value=value), scheme=scheme)
    assert answer.exact == welcome_answer("alice")


@pytest.mark.parametrize(
    "cookie",
    [
        "a=x, userID={value}",
        'a="x; userID={value}"',
        "a=x,userID={value}",
        "userID{value}",
        "XuserID={value}",
        "user ID={value}",
    ],
    ids=["after-a-comma", "inside-quotes", "after-a-bare-comma", "no-equals", "longer-name", "spaced-name"],
)
def test_no_neighbours_value_is_read_as_the_users_cookie(cookie):
    """Only a pair of the user cookie's own name, after the start or a ";", is the user's: no comma
    splits a pair, and no neighbour's value, quoted or not, holds a user cookie."""
    answer = call("GET", "/getcookie", cookie=cookie.format(value=sign("mallory")))
    assert answer.exact == NO_USER_ANSWER


def test_only_the_users_own_pairs_go_to_werkzeug(monkeypatch):
    """parse_cookie sees the user cookie's pairs, cut at the next ";", and nothing of the neighbours:
    their number and their quotes cost nothing and hide nothing."""
    seen = []
    parse_cookie = wsgiapp.parse_cookie
    monkeypatch.setattr(wsgiapp, "parse_cookie", lambda header: seen.append(header) or parse_cookie(header))
    value = sign("alice")
    answer = call("GET", "/getcookie", cookie=f'a="; userID={value}; b=1; c="x; userID=y; d=2')
    assert seen == [f"userID={value}; userID=y"]
    # Two of one name: no user, and the cookie cleared.
    assert answer.exact == CLEARED_ANSWER


@pytest.mark.parametrize(
    "lines",
    [("userID={value}", "theme=dark"), ("theme=dark", "userID={value}")],
    ids=["user-cookie-first", "user-cookie-second"],
)
@pytest.mark.parametrize("separator", [", ", ","])
def test_two_cookie_lines_joined_by_a_comma_never_clear_the_users_cookie(lines, separator):
    """HTTP/1.1 servers join two Cookie lines with ", " (RFC 9110, section 5.3). A browser sends one
    (RFC 6265, section 5.4): the joined header welcomes nobody, in either order, and clears nothing."""
    cookie = separator.join(lines).format(value=sign("alice"))
    assert call("GET", "/getcookie", cookie=cookie).exact == NO_USER_ANSWER


# Bad cookies: no user, and the cookie cleared

BAD_COOKIES = {
    "unsigned": "userID=alice",
    "empty": "userID=",
    "tampered-name": "userID=" + sign("alice").replace("alice", "mallory"),
    "truncated-signature": "userID=" + sign("alice")[:-4],
    "no-signature": "userID=" + sign("alice").rsplit(".", 1)[0] + ".",
    "wrong-key": "userID=" + sign("alice", key="another-key"),
    "wrong-salt": "userID=" + sign("alice", salt="itsdangerous.Signer"),
    "sha1-signature": "userID=alice." + Signer(TEST_KEY, salt=COOKIE_SALT).get_signature("alice").decode(),
    "non-utf8": "userID=\xff\xfe",
    # Signed with the app's key, so only the name's bytes are wrong: %FF is no UTF-8.
    "signed-name-not-utf8": "userID=" + sign_payload("%FF"),
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


@pytest.mark.parametrize("cookie", BAD_COOKIES.values(), ids=BAD_COOKIES.keys())
def test_a_bad_cookie_is_refused_and_cleared(cookie):
    assert call("GET", "/getcookie", cookie=cookie).exact == CLEARED_ANSWER


@pytest.mark.parametrize("how", ["padding", "alphabet", "low bits"])
def test_another_spelling_of_the_signature_is_refused(raw_client, how):
    # A name whose signature holds a "-" or "_", which have other spellings in base64.
    name = next(name for name in (f"user{i}" for i in range(1000)) if {"-", "_"} & set(sign(name)[-43:]))
    payload, _, signature = sign(name).rpartition(".")
    other = respelled(signature, how)
    # Another spelling of the same bytes, as a lenient decoder reads it.
    assert other != signature
    assert base64.b64decode(other.replace("-", "+").replace("_", "/") + "=") == from_base64url(signature)
    response = raw_client.get("/getcookie", headers={"Cookie": f"userID={payload}.{signature}"})
    assert welcome(name) in assert_page(response, HTTPStatus.OK, private=True)
    response = raw_client.get("/getcookie", headers={"Cookie": f"userID={payload}.{other}"})
    assert "<h1>No user is set</h1>" in assert_page(response, HTTPStatus.OK, private=True)
    assert attributes(response.headers["Set-Cookie"]) == CLEARED


@pytest.mark.parametrize("name", ["alice", "dots.in.name", "a=b", "it's-me_(2)!", "~tilde`"])
def test_cookies_made_before_encoding_still_verify_where_it_left_them_alone(raw_client, name):
    # Before names were encoded, the name itself was signed: for these it is the same value.
    response = raw_client.get("/getcookie", headers={"Cookie": f"userID={sign_payload(name)}"})
    assert welcome(name) in assert_page(response, HTTPStatus.OK, private=True)
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("spelt", ["alice", "\\141lice"], ids=["quoted", "an-octal-escape"])
def test_a_quoted_cookie_is_read_as_werkzeug_unquotes_it(spelt):
    """An RFC 2109 quoted string, its escapes read: the value the app issued, spelt otherwise."""
    cookie = f'userID="{spelt}{sign("alice").removeprefix("alice")}"'
    assert call("GET", "/getcookie", cookie=cookie).exact == welcome_answer("alice")


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
    assert attributes(response.headers["Set-Cookie"]) == CLEARED_HTTPS


# Keys


def test_key_rotation_every_key_verifies_and_the_first_signs():
    keys = ("new-key", "older-key", "old-key")
    rotated = make_test_app(*keys)
    for key in keys:
        answer = call("GET", "/getcookie", app=rotated, cookie=signed("alice", key))
        assert answer.exact == welcome_answer("alice"), key
    answer = call("POST", "/setcookie", b"nm=bob", app=rotated, content_type=URLENCODED)
    assert answer.exact == login_answer("bob", key="new-key")
    # An app that dropped the old key refuses its cookies, and clears them.
    answer = call("GET", "/getcookie", app=make_test_app("new-key"), cookie=signed("alice", "old-key"))
    assert answer.exact == CLEARED_ANSWER


# Logging out


def test_deletecookie_clears_the_cookie_and_redirects(client):
    answer = call("POST", "/deletecookie", cookie=signed("alice"))
    headers = private_headers(REDIRECT, ("Location", "/"), CLEAR_COOKIE)
    assert answer.exact == ("303 See Other", headers, REDIRECT)
    # A browser drops the cookie, and is nobody.
    submit_name(client, "alice")
    assert client.post("/deletecookie").status_code == 303
    assert client.get_cookie("userID") is None
    assert "<h1>No user is set</h1>" in client.get("/getcookie").get_data(as_text=True)


def test_deletecookie_over_https_clears_the_host_cookie(client):
    https = {"base_url": "https://localhost"}
    submit_name(client, "alice", **https)
    assert client.get_cookie("__Host-userID") is not None
    response = client.post("/deletecookie", **https)
    assert response.status_code == 303
    assert attributes(response.headers["Set-Cookie"]) == CLEARED_HTTPS
    assert client.get_cookie("__Host-userID") is None
    assert "<h1>No user is set</h1>" in client.get("/getcookie", **https).get_data(as_text=True)


def test_welcome_page_has_a_logout_button(client):
    submit_name(client, "alice")
    body = client.get("/getcookie").get_data(as_text=True)
    assert '<form action="/deletecookie" method="POST">' in body
    assert '<button type="submit">Log out</button>' in body
