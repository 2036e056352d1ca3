"""The replay floor: wsgiapp's own answers to the benchmark's requests, recorded once, sent back.

At import, wsgiapp's application answers each case of bench/cases.py once, from the environ that
build_environ makes for it there; from then on this app answers a request for the same method and
path with that status, those headers and that body, and does nothing else (it reads neither the
body nor the cookie). Any other request gets wsgiapp's 404 page. Set beside wsgiapp, it tells what
sending wsgiapp's exact answers costs the server (its headers, its Set-Cookie, its page sizes)
apart from the Python work that makes them; beside the constant floor, what those answers cost
over two headers and one body.

It imports wsgiapp (Werkzeug, itsdangerous) to record the answers, so its memory is wsgiapp's idle
memory, not the constant floor's.
"""

from collections.abc import Callable
from typing import Any

# bench.cases first: it sets SECRET_KEY, which wsgiapp reads when it is imported.
from bench.cases import APPS
from bench.cases import CASES
from bench.cases import Case
from bench.cases import build_environ
from bench.cases import load
from bench.cases import respond

WSGIAPP = load(APPS["wsgiapp"])
ANSWERS = {(case.method, case.path): respond(WSGIAPP, *build_environ(case)) for case in CASES}
NOT_FOUND = respond(WSGIAPP, *build_environ(Case("GET /not-a-page", "GET", "/not-a-page", {}, "")))


def application(environ: dict[str, Any], start_response: Callable) -> list[bytes]:
    answer = ANSWERS.get((environ["REQUEST_METHOD"], environ.get("PATH_INFO")), NOT_FOUND)
    # The recorded list itself, as the constant floor passes its own: gunicorn does not change it.
    start_response(answer.status, answer.headers)
    return [answer.body]
