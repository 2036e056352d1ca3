"""What every benchmark sends: the three routes, what their answers must hold, the apps (and earlier
revisions of wsgiapp), a signing key, and one request made in process."""

import os

# Every app, in this process and in the servers, signs and verifies with this key, read from the
# environment like a deployment's: set before wsgiapp, imported below, builds its application.
BENCH_KEY = "bench-secret-key-of-32-characters"
os.environ["SECRET_KEY"] = BENCH_KEY
os.environ.pop("SECRET_KEY_FALLBACKS", None)
os.environ.pop("COOKIE_MAX_AGE", None)

import contextlib  # noqa: E402
import importlib  # noqa: E402
import importlib.util  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from io import BytesIO  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from typing import NamedTuple  # noqa: E402

from werkzeug.test import EnvironBuilder  # noqa: E402

import wsgiapp  # noqa: E402
from bench.servers import ROOT  # noqa: E402

WSGIApp = Callable[[dict[str, Any], Callable], Any]

# The login form with the name "Alice & <Bob>".
FORM = "nm=Alice+%26+%3CBob%3E"
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


class Answer(NamedTuple):
    status: str  # the status line: "200 OK"
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def code(self) -> int:
        return int(self.status.split()[0])

    def cookie(self) -> str:
        """`name=value` of the cookie the answer sets, as a browser sends it back."""
        return next(value for name, value in self.headers if name.lower() == "set-cookie").split("; ")[0]


def build_environ(case: Case) -> tuple[dict[str, Any], bytes]:
    """The environ gunicorn would give the app for this request, and its body."""
    body = case.body.encode()
    environ = EnvironBuilder(case.path, method=case.method, headers=case.headers, data=body).get_environ()
    # Like gunicorn: the server bounds the body stream itself.
    environ["wsgi.input_terminated"] = True
    return environ, body


def respond(app: WSGIApp, environ: dict[str, Any], body: bytes) -> Answer:
    """One request as a server makes it, on a copy of environ with a fresh stream of body: the
    answer read whole, close() called."""
    environ = {**environ, "wsgi.input": BytesIO(body)}
    started: list[Answer] = []
    result = app(
        environ, lambda status, headers, exc_info=None: started.append(Answer(status, list(headers), b""))
    )
    try:
        content = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return started[-1]._replace(body=content)


LOGIN = Case(
    "POST /setcookie",
    "POST",
    "/setcookie",
    {"Content-Type": "application/x-www-form-urlencoded"},
    FORM,
    expect="<h1>Cookie set</h1>",
)
# The cookie as wsgiapp sets it for the form, now, with the shared key: the name with its spaces
# percent-encoded (RFC 6265 keeps them out of a cookie value), the time, the signature.
COOKIE = respond(wsgiapp.application, *build_environ(LOGIN)).cookie()
CASES = [
    Case("GET /", "GET", "/", {}, "", expect="Enter userID</label></h1>"),
    LOGIN,
    Case("GET /getcookie", "GET", "/getcookie", {"Cookie": COOKIE}, "", expect=WELCOME),
]


def with_cookie(case: Case, cookie: str) -> Case:
    """The case with this cookie in place of wsgiapp's, if it sends one: an earlier revision's own,
    whose salt or spelling may differ."""
    return case._replace(headers={**case.headers, "Cookie": cookie}) if "Cookie" in case.headers else case


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


def load(entry_point: str) -> WSGIApp:
    module, _, name = entry_point.partition(":")
    return getattr(importlib.import_module(module), name)


@contextlib.contextmanager
def exported(revisions: Sequence[str]) -> Iterator[dict[str, Path]]:
    """wsgiapp.py and html/ as they were at each git revision, each in a temporary folder of its own,
    by its label ("baseline <revision>")."""
    labels = [f"baseline {revision}" for revision in revisions]
    if len(set(labels)) < len(labels):
        raise ValueError(f"a baseline revision given twice: {', '.join(revisions)}")
    with tempfile.TemporaryDirectory(prefix="bench-baselines-") as temporary:
        folders = {}
        for number, (label, revision) in enumerate(zip(labels, revisions, strict=True)):
            folder = Path(temporary) / str(number)
            folder.mkdir()
            # git and tar from PATH, on a revision its user named: a developer's command, not a service.
            archive = subprocess.run(  # noqa: S603
                ["git", "archive", revision, "wsgiapp.py", "html"],  # noqa: S607
                cwd=ROOT,
                capture_output=True,
                check=True,
            )
            subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)  # noqa: S603, S607
            folders[label] = folder
        yield folders


def load_revision(folder: Path, module_name: str) -> WSGIApp:
    """The application of the wsgiapp.py in folder (export_revision), imported as module_name: built
    at import from the environment, with the benchmark's key."""
    spec = importlib.util.spec_from_file_location(module_name, folder / "wsgiapp.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"no wsgiapp.py in {folder}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.application


class WrongAnswer(RuntimeError):
    """An app's answer that is not the page its case expects: the load would measure something else."""


def check_answer(label: str, case: Case, status: int, body: bytes) -> None:
    """A 200 and, unless the app is the constant floor, the case's text in the page."""
    if status != 200:
        raise WrongAnswer(f"{label} answered {case.label} with {status}")
    if label not in CONSTANT and case.expect.encode() not in body:
        raise WrongAnswer(f"{label} answered {case.label} without {case.expect!r}:\n{body[:2000]!r}")
