"""The cookie over time, in process with clocks the tests set: it carries the time it was issued, the
server refuses it past its lifetime whatever the browser kept, accepts another instance's clock up to
a minute ahead, and spells the time one way only. Other cookies of the host, whatever their bytes,
never log the user out."""

import pytest

from tests.helpers.answer import attributes
from tests.helpers.inprocess import call
from tests.helpers.inprocess import make_test_app
from tests.helpers.oracle import CLEARED
from tests.helpers.oracle import CLOCK_SKEW
from tests.helpers.oracle import COOKIE_ATTRIBUTES
from tests.helpers.oracle import DEFAULT_LIFETIME
from tests.helpers.oracle import NOW
from tests.helpers.oracle import SALT_1_0
from tests.helpers.oracle import URLENCODED
from tests.helpers.oracle import base64url
from tests.helpers.oracle import respelled
from tests.helpers.oracle import sign
from tests.helpers.oracle import untimed_signer
from tests.helpers.oracle import welcome

# A time on the test apps' clocks: 2027-01-15, when the time still takes 4 bytes.
T = 1_800_000_000


def read_back(cookie: bytes, now: float, max_age: int | None = None):
    """GET /getcookie with this Cookie header, as a server hands its bytes over (latin-1, PEP 3333),
    on an app whose clock says now."""
    app = make_test_app(max_age=max_age, now=now)
    return call("GET", "/getcookie", app=app, cookie=cookie.decode("latin-1"))


def is_welcome(answer, name: str = "alice") -> bool:
    assert answer.status == 200
    return welcome(name) in answer.text


def is_cleared(answer) -> bool:
    header = answer.header("Set-Cookie")
    return header is not None and attributes(header) == CLEARED


@pytest.mark.parametrize("max_age", [None, 2, 3600])
def test_the_cookie_carries_the_time_it_was_issued(max_age):
    app = make_test_app(max_age=max_age, now=T + 0.9)
    answer = call("POST", "/setcookie", b"nm=alice", app=app, content_type=URLENCODED)
    assert answer.status == 200
    expected = {f"userID={sign('alice', at=T)}", *COOKIE_ATTRIBUTES}
    if max_age is not None:
        expected.add(f"Max-Age={max_age}")
    sent = attributes(answer.cookie_header())
    assert {attribute for attribute in sent if not attribute.startswith("Expires=")} == expected
    # The time field: T in 4 big-endian bytes, base64url without padding.
    assert answer.cookie_pair().split(".")[1] == base64url(T.to_bytes(4, "big"))


@pytest.mark.parametrize(
    ("max_age", "lifetime"),
    [(None, DEFAULT_LIFETIME), (2, 2), (3600, 3600), (400 * 24 * 3600, 400 * 24 * 3600)],
    ids=["session-cookie-31-days", "2-seconds", "an-hour", "400-days"],
)
def test_a_cookie_older_than_its_lifetime_welcomes_nobody_and_is_cleared(max_age, lifetime):
    """COOKIE_MAX_AGE when set, else 31 days (Flask's session lifetime), whatever the browser kept:
    a copied or stolen cookie stops working too."""
    cookie = b"userID=" + sign("alice", at=T).encode()
    for age in (0, 1, lifetime - 1, lifetime, lifetime + 0.99):
        answer = read_back(cookie, T + age, max_age)
        assert is_welcome(answer), age
        assert answer.header("Set-Cookie") is None
    for age in (lifetime + 1, lifetime + 3600, 10 * 365 * 24 * 3600):
        answer = read_back(cookie, T + age, max_age)
        assert not is_welcome(answer), age
        assert "<h1>No user is set</h1>" in answer.text
        assert is_cleared(answer), age


def test_a_cookie_from_a_clock_up_to_a_minute_ahead_is_accepted():
    """Another instance's clock may run ahead: itsdangerous alone refuses a time one second ahead."""
    for ahead in (1, 2, CLOCK_SKEW - 1, CLOCK_SKEW):
        answer = read_back(b"userID=" + sign("alice", at=T + ahead).encode(), T)
        assert is_welcome(answer), ahead
        assert answer.header("Set-Cookie") is None
    for ahead in (CLOCK_SKEW + 1, 3600, 365 * 24 * 3600):
        answer = read_back(b"userID=" + sign("alice", at=T + ahead).encode(), T)
        assert not is_welcome(answer), ahead
        assert is_cleared(answer), ahead


def stamp_of(seconds: int) -> str:
    return base64url(seconds.to_bytes(4, "big"))


def signed_with_stamp(name: str, stamp: str) -> str:
    """name.stamp and a valid signature over them: what the app would issue, but for the stamp's spelling."""
    return untimed_signer().sign(f"{name}.{stamp}").decode()


# A time whose spelling holds a "-" or "_", which the standard base64 alphabet spells "+" or "/".
URLSAFE_T = next(seconds for seconds in range(T, T + 100_000) if {"-", "_"} & set(stamp_of(seconds)))


@pytest.mark.parametrize(
    ("seconds", "stamp"),
    [
        pytest.param(T, respelled(stamp_of(T), "zero byte"), id="leading-zero-byte"),
        pytest.param(T, respelled(stamp_of(T), "padding"), id="padding"),
        pytest.param(T, respelled(stamp_of(T), "low bits"), id="low-bits"),
        pytest.param(URLSAFE_T, respelled(stamp_of(URLSAFE_T), "alphabet"), id="standard-alphabet"),
        pytest.param(T, "", id="empty"),
        pytest.param(T, str(T), id="decimal"),
    ],
)
def test_the_time_has_one_spelling(seconds, stamp):
    """A validly signed value whose time is spelt otherwise than the app spells it is refused."""
    assert is_welcome(read_back(b"userID=" + signed_with_stamp("alice", stamp_of(seconds)).encode(), seconds))
    answer = read_back(b"userID=" + signed_with_stamp("alice", stamp).encode(), seconds)
    assert not is_welcome(answer)
    assert is_cleared(answer)


def test_a_cookie_of_1_0_welcomes_nobody_whatever_its_name():
    """What an upgrade from 1.0 does: the users log in again, once (CHANGES.md). 1.0 signed the bare
    name, untimed, with the salt "wsgiapp.userID". Its cookie for a name that ends like a time,
    "alice.<time>", is byte for byte the timed cookie for "alice" under that salt: the salt of the
    timed format is another."""
    untimed = untimed_signer(salt=SALT_1_0)
    for name in ("alice", f"alice.{stamp_of(NOW)}"):
        answer = read_back(b"userID=" + untimed.sign(name), NOW)
        assert not is_welcome(answer)
        assert is_cleared(answer)


# Another service of the same host (another port, a sibling path) sets cookies of its own; the
# browser sends them all in one header. None of these may log the user out, or clear the cookie.
NEIGHBOURS = {
    "latin-1 byte": b"pref=caf\xe9",
    "invalid UTF-8": b"a=\xff\xfe",
    "UTF-8": "theme=\u00e9t\u00e9".encode(),
    "empty pairs": b";;;",
    "a name without a value": b"flag",
    "= without a name": b"=x; =",
    "an unterminated quote": b'q="abc',
    "a quoted value with escapes": b'q="a\\"b\\\xe9"',
    "another user cookie name": b"userid=x; USERID=y; __Host-userID=z",
}


@pytest.mark.parametrize("where", ["before", "after", "around"])
@pytest.mark.parametrize("neighbour", NEIGHBOURS.values(), ids=NEIGHBOURS.keys())
def test_other_cookies_never_touch_the_user(neighbour, where):
    user = b"userID=" + sign("alice").encode()
    header = {
        "before": neighbour + b"; " + user,
        "after": user + b"; " + neighbour,
        "around": neighbour + b"; " + user + b"; " + neighbour,
    }[where]
    answer = read_back(header, NOW)
    assert is_welcome(answer)
    assert answer.header("Set-Cookie") is None


@pytest.mark.parametrize(
    "value",
    [b"\xff" + sign("alice").encode(), sign("alice").encode() + b"\xe9", "\u00e9".encode(), b"alice"],
    ids=["non-utf8-before", "latin-1-after", "utf8", "unsigned"],
)
def test_a_user_cookie_that_is_not_the_apps_is_cleared_among_neighbours(value):
    answer = read_back(b"pref=caf\xe9; userID=" + value, NOW)
    assert not is_welcome(answer)
    assert is_cleared(answer)
