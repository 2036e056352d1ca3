"""What every benchmark sends: the three routes, the apps, and a signing key they share."""

import os
from typing import NamedTuple

# Every app, in this process and in the servers, signs and verifies with this key. The Flask app and
# the servers read it from the environment, like a deployment; wsgiapp in process is built with it.
BENCH_KEY = "bench-secret-key"
os.environ["SECRET_KEY"] = BENCH_KEY
os.environ.pop("SECRET_KEY_FALLBACKS", None)
os.environ.pop("COOKIE_MAX_AGE", None)

from itsdangerous import Signer  # noqa: E402

NAME = "Alice & <Bob>"
FORM = "nm=Alice+%26+%3CBob%3E"
# The cookie as the apps set it: the name with its spaces percent-encoded (RFC 6265 keeps them out
# of a cookie value), signed with the shared key.
SIGNER = Signer(BENCH_KEY, salt="wsgiapp.userID", key_derivation="hmac", digest_method="sha256")
COOKIE = "userID=" + SIGNER.sign("Alice%20&%20<Bob>").decode()


class Case(NamedTuple):
    label: str
    method: str
    path: str
    headers: dict[str, str]
    body: str


CASES = [
    Case("GET /", "GET", "/", {}, ""),
    Case(
        "POST /setcookie", "POST", "/setcookie", {"Content-Type": "application/x-www-form-urlencoded"}, FORM
    ),
    Case("GET /getcookie", "GET", "/getcookie", {"Cookie": COOKIE}, ""),
]

# Label -> WSGI entry point, as gunicorn names them (module:callable), run from the repository root.
APPS = {
    "wsgiapp": "wsgiapp:application",
    "flask": "bench.flask_app:application",
    "floor": "bench.floor:application",
}
