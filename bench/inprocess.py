"""The cost of one call of each app's WSGI callable, per route, measured in this process."""

import hashlib
import importlib
import importlib.util
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any
from typing import NamedTuple

from werkzeug.test import EnvironBuilder

import wsgiapp
from bench.cases import APPS
from bench.cases import BASES
from bench.cases import BENCH_KEY
from bench.cases import CASES
from bench.cases import Case
from bench.cases import check_answer

WSGIApp = Callable[[dict[str, Any], Callable], Any]


def load(entry_point: str) -> WSGIApp:
    module, _, name = entry_point.partition(":")
    return getattr(importlib.import_module(module), name)


def build_environ(case: Case) -> tuple[dict[str, Any], bytes]:
    """The environ gunicorn would give the app for this request, and its body."""
    body = case.body.encode()
    environ = EnvironBuilder(case.path, method=case.method, headers=case.headers, data=body).get_environ()
    # Like gunicorn: the server bounds the body stream itself.
    environ["wsgi.input_terminated"] = True
    return environ, body


def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
    start_response.status = status


def answer(app: WSGIApp, environ: dict[str, Any], body: bytes) -> tuple[int, bytes]:
    """One request as call() makes it; the status code and the page."""
    statuses = []
    environ = environ.copy()
    environ["wsgi.input"] = BytesIO(body)
    result = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
    try:
        page = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return int(statuses[-1].split()[0]), page


def call(app: WSGIApp, environ: dict[str, Any], body: bytes) -> None:
    """One request as a server makes it: a fresh environ and stream, the body read, close() called."""
    environ = environ.copy()
    environ["wsgi.input"] = BytesIO(body)
    result = app(environ, start_response)
    for _chunk in result:
        pass
    if hasattr(result, "close"):
        result.close()


def time_batch(app: WSGIApp, environ: dict[str, Any], body: bytes, calls: int) -> float:
    """Seconds per call, over calls calls."""
    start = time.perf_counter()
    for _ in range(calls):
        call(app, environ, body)
    return (time.perf_counter() - start) / calls


def calibrate(app: WSGIApp, environ: dict[str, Any], body: bytes, batch_seconds: float) -> int:
    """How many calls fill about batch_seconds."""
    for power in range(16):
        calls = 4**power
        elapsed = time_batch(app, environ, body, calls) * calls
        if elapsed >= batch_seconds / 10:
            return max(1, round(calls * batch_seconds / elapsed))
    raise RuntimeError(f"{calls} calls took only {elapsed} s: is the clock working?")


class Samples(NamedTuple):
    times: dict[tuple[str, str], list[float]]  # (app, route) -> seconds per call, one figure a round
    digests: dict[tuple[str, str], str]  # (app, route) -> SHA-256 of the page, in hex


def load_baseline(revision: str, folder: Path) -> WSGIApp:
    """wsgiapp as it was at a git revision (wsgiapp.py and html/, unpacked into folder), built with
    the benchmark's key by its own make_app."""
    # git and tar from PATH, on a revision its user named: a developer's command, not a service.
    archive = subprocess.run(  # noqa: S603
        ["git", "archive", revision, "wsgiapp.py", "html"],  # noqa: S607
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)  # noqa: S603, S607
    spec = importlib.util.spec_from_file_location("wsgiapp_baseline", folder / "wsgiapp.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"no wsgiapp.py at {revision}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.App(module.Settings((BENCH_KEY,)))


def own_cookie(app: WSGIApp, case: Case) -> Case:
    """The case with the cookie that this app itself sets for the benchmark's form, for an app whose
    cookie is spelt otherwise than the others' (the baseline of another version)."""
    login = next(other for other in CASES if other.method == "POST")
    environ, body = build_environ(login)
    environ["wsgi.input"] = BytesIO(body)
    headers: list[tuple[str, str]] = []
    result = app(environ, lambda status, sent, exc_info=None: headers.extend(sent))
    b"".join(result)
    cookie = next(value for name, value in headers if name == "Set-Cookie").split("; ")[0]
    return case._replace(headers={**case.headers, "Cookie": cookie})


def run(rounds: int, batch_seconds: float, baseline: str | None = None) -> Samples:
    """Seconds per call for each (app, route), one figure a round; the apps take turns in every round.

    baseline: a git revision whose wsgiapp runs beside the others, as "baseline".
    """
    apps = {label: load(entry_point) for label, entry_point in APPS.items()}
    # wsgiapp built from its settings, as its tests build it; gunicorn reads them from the environment.
    apps["wsgiapp"] = wsgiapp.App(wsgiapp.Settings((BENCH_KEY,)))
    environs = {(label, case.label): build_environ(case) for label in apps for case in CASES}
    if baseline is not None:
        apps["baseline"] = load_baseline(baseline, Path(tempfile.mkdtemp(prefix="bench-baseline-")))
        for case in CASES:
            cookie = "Cookie" in case.headers
            environs[("baseline", case.label)] = build_environ(
                own_cookie(apps["baseline"], case) if cookie else case
            )
    digests = {}
    for case in CASES:
        for label, app in apps.items():
            status, page = answer(app, *environs[(label, case.label)])
            check_answer(label, case, status, page)
            digests[(label, case.label)] = hashlib.sha256(page).hexdigest()
    calls = {
        (label, case.label): calibrate(app, *environs[(label, case.label)], batch_seconds)
        for label, app in apps.items()
        for case in CASES
    }
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in calls}
    labels = list(apps)
    for round_number in range(rounds):
        # Rotate the order so no app always runs right after another.
        order = labels[round_number % len(labels) :] + labels[: round_number % len(labels)]
        for case in CASES:
            for label in order:
                key = (label, case.label)
                samples[key].append(time_batch(apps[label], *environs[key], calls[key]))
    return Samples(samples, digests)


def ratio(samples: dict[tuple[str, str], list[float]], case: Case, numerator: str, denominator: str) -> float:
    """Median over the rounds of one app's time over another's, measured side by side."""
    pairs = zip(samples[(numerator, case.label)], samples[(denominator, case.label)], strict=True)
    return statistics.median(a / b for a, b in pairs)


def times(value: float) -> str:
    """A ratio with three significant figures at most: 0.85x, 12.2x, 171x."""
    return f"{value:.2f}x" if value < 10 else f"{value:.1f}x" if value < 100 else f"{value:.0f}x"


def report(samples: Samples, rounds: int) -> str:
    lines = [
        f"In process: microseconds per call, median of {rounds} interleaved rounds. Ratios: median over",
        "the rounds of the times measured side by side; Flask / app and Falcon / app: how many times",
        "cheaper than the framework (above 1: cheaper); app / floor and app / replay: how many times",
        "dearer than the floor (above 1: dearer).",
        "",
        "| route | app | µs/call | Flask / app | Falcon / app | app / floor | app / replay |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for case in CASES:
        for label in APPS:
            micros = statistics.median(samples.times[(label, case.label)]) * 1e6
            row = [
                case.label,
                label,
                f"{micros:.2f}" if micros < 10 else f"{micros:.1f}",
                *(times(ratio(samples.times, case, base, label)) for base in BASES[:2]),
                *(times(ratio(samples.times, case, label, base)) for base in BASES[2:]),
            ]
            lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "Checked before timing: every answer 200 with its route's text (GET /getcookie: the welcome",
        "page), but the constant floor's. SHA-256 of the pages, first 12 hex digits; = : wsgiapp's.",
        "",
        "| route | " + " | ".join(APPS) + " |",
        "| --- |" + " --- |" * len(APPS),
    ]
    for case in CASES:
        own = samples.digests[("wsgiapp", case.label)]
        cells = [own[:12]]
        for label in list(APPS)[1:]:
            digest = samples.digests[(label, case.label)]
            cells.append("=" if digest == own else digest[:12])
        lines.append(f"| {case.label} | " + " | ".join(cells) + " |")
    if ("baseline", CASES[0].label) in samples.times:
        lines += [
            "",
            "wsgiapp against the baseline revision, side by side in the same rounds: µs per call, and the",
            "median over the rounds of the difference and of the ratio.",
            "",
            "| route | baseline | wsgiapp | difference | wsgiapp / baseline |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for case in CASES:
            before, after = samples.times[("baseline", case.label)], samples.times[("wsgiapp", case.label)]
            lines.append(side_by_side(case.label, before, after))
    return "\n".join(lines)


def side_by_side(label: str, before: list[float], after: list[float]) -> str:
    """A table row: the medians of two variants timed in the same rounds (µs), and the medians over
    the rounds of their difference and of their ratio."""
    pairs = list(zip(before, after, strict=True))
    return (
        f"| {label} | {statistics.median(a for a, _ in pairs) * 1e6:.2f}"
        f" | {statistics.median(b for _, b in pairs) * 1e6:.2f}"
        f" | {statistics.median(b - a for a, b in pairs) * 1e6:+.2f}"
        f" | {statistics.median(b / a for a, b in pairs):.3f}x |"
    )
