"""The replay floor: wsgiapp's own answers to the benchmark's requests, recorded once, sent back.

At import, wsgiapp's application answers each case of bench/cases.py once, from the environ that
bench/inprocess.py builds for it; from then on this app answers a request for the same method and
path with that status, those headers and that body, and does nothing else (it reads neither the
body nor the cookie). Any other request gets wsgiapp's 404 page. Set beside wsgiapp, it tells what
sending wsgiapp's exact answers costs the server (its headers, its Set-Cookie, its page sizes)
apart from the Python work that makes them; beside the constant floor, what those answers cost
over two headers and one body.

It imports wsgiapp (Werkzeug, itsdangerous) to record the answers, so its memory is wsgiapp's idle
memory, not the constant floor's.
"""

from collections.abc import Callable
from io import BytesIO
from typing import Any
from typing import NamedTuple

# bench.cases first: it sets SECRET_KEY, which wsgiapp reads when bench.inprocess imports it.
from bench.cases import APPS
from bench.cases import CASES
from bench.cases import Case
from bench.inprocess import WSGIApp
from bench.inprocess import build_environ
from bench.inprocess import load


class Answer(NamedTuple):
    status: str
    headers: list[tuple[str, str]]
    body: bytes


def record(app: WSGIApp, case: Case) -> Answer:
    """The app's answer to this case, as a server would read it."""
    environ, body = build_environ(case)
    environ["wsgi.input"] = BytesIO(body)
    started: list[Answer] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        started.append(Answer(status, list(headers), b""))

    result = app(environ, start_response)
    try:
        content = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return started[-1]._replace(body=content)


WSGIAPP = load(APPS["wsgiapp"])
ANSWERS = {(case.method, case.path): record(WSGIAPP, case) for case in CASES}
NOT_FOUND = record(WSGIAPP, Case("GET /not-a-page", "GET", "/not-a-page", {}, ""))


def application(environ: dict[str, Any], start_response: Callable) -> list[bytes]:
    answer = ANSWERS.get((environ["REQUEST_METHOD"], environ.get("PATH_INFO")), NOT_FOUND)
    # The recorded list itself, as the constant floor passes its own: gunicorn does not change it.
    start_response(answer.status, answer.headers)
    return [answer.body]
