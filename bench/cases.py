"""What every benchmark sends: the three routes, what their answers must hold, the apps, and a signing key."""

import os
from typing import NamedTuple

# Every app, in this process and in the servers, signs and verifies with this key. The Flask app and
# the servers read it from the environment, like a deployment; wsgiapp in process is built with it.
BENCH_KEY = "bench-secret-key-of-32-characters"
os.environ["SECRET_KEY"] = BENCH_KEY
os.environ.pop("SECRET_KEY_FALLBACKS", None)
os.environ.pop("COOKIE_MAX_AGE", None)

from itsdangerous import TimestampSigner  # noqa: E402

NAME = "Alice & <Bob>"
FORM = "nm=Alice+%26+%3CBob%3E"
# The cookie as the apps set it: the name with its spaces percent-encoded (RFC 6265 keeps them out
# of a cookie value), and the time now, signed with the shared key.
SIGNER = TimestampSigner(BENCH_KEY, salt="wsgiapp.userID", key_derivation="hmac", digest_method="sha256")
COOKIE = "userID=" + SIGNER.sign("Alice%20&%20<Bob>").decode()


# The welcome page names the user from the cookie, escaped: an app that shows it has verified it.
WELCOME = "welcome Alice &amp; &lt;Bob&gt;"


class Case(NamedTuple):
    label: str
    method: str
    path: str
    headers: dict[str, str]
    body: str
    # Text the page must hold, checked with a 200 status in every app but the constant floor.
    expect: str = ""


CASES = [
    Case("GET /", "GET", "/", {}, "", expect="Enter userID</label></h1>"),
    Case(
        "POST /setcookie",
        "POST",
        "/setcookie",
        {"Content-Type": "application/x-www-form-urlencoded"},
        FORM,
        expect="<h1>Cookie set</h1>",
    ),
    Case("GET /getcookie", "GET", "/getcookie", {"Cookie": COOKIE}, "", expect=WELCOME),
]

# Label -> WSGI entry point, as gunicorn names them (module:callable), run from the repository root.
APPS = {
    "wsgiapp": "wsgiapp:application",
    "flask": "bench.flask_app:application",
    "falcon": "bench.falcon_app:application",
    "floor": "bench.floor:application",
    "replay": "bench.replay:application",
}
# The apps the others are compared with, in the reports' column order.
BASES = ("flask", "falcon", "floor", "replay")
# The constant floor sends the same bytes to every request: no page of the app is in them to check.
CONSTANT = frozenset({"floor"})


class WrongAnswer(RuntimeError):
    """An app's answer that is not the page its case expects: the load would measure something else."""


def check_answer(label: str, case: Case, status: int, body: bytes) -> None:
    """A 200 and, unless the app is the constant floor, the case's text in the page."""
    if status != 200:
        raise WrongAnswer(f"{label} answered {case.label} with {status}")
    if label not in CONSTANT and case.expect.encode() not in body:
        raise WrongAnswer(f"{label} answered {case.label} without {case.expect!r}:\n{body[:2000]!r}")
