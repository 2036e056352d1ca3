"""The cost of one call of each app's WSGI callable, per route, measured in this process."""

import importlib
import statistics
import time
from collections.abc import Callable
from io import BytesIO
from typing import Any

from werkzeug.test import EnvironBuilder

import wsgiapp
from bench.cases import APPS
from bench.cases import BENCH_KEY
from bench.cases import CASES
from bench.cases import Case

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
    calls = 1
    while True:
        elapsed = time_batch(app, environ, body, calls) * calls
        if elapsed >= batch_seconds / 10:
            return max(1, round(calls * batch_seconds / elapsed))
        calls *= 4


def run(rounds: int, batch_seconds: float) -> dict[tuple[str, str], list[float]]:
    """Seconds per call for each (app, route), one figure a round; the apps take turns in every round."""
    apps = {label: load(entry_point) for label, entry_point in APPS.items()}
    # wsgiapp built from its settings, as its tests build it; gunicorn reads them from the environment.
    apps["wsgiapp"] = wsgiapp.make_app(wsgiapp.Settings((BENCH_KEY,)))
    environs = {case.label: build_environ(case) for case in CASES}
    for case in CASES:
        for label, app in apps.items():
            call(app, *environs[case.label])
            if not start_response.status.startswith("200"):
                raise RuntimeError(f"{label} answered {case.label} with {start_response.status}")
    calls = {
        (label, case.label): calibrate(app, *environs[case.label], batch_seconds)
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
                samples[key].append(time_batch(apps[label], *environs[case.label], calls[key]))
    return samples


def ratio(samples: dict[tuple[str, str], list[float]], case: Case, numerator: str, denominator: str) -> float:
    """Median over the rounds of one app's time over another's, measured side by side."""
    pairs = zip(samples[(numerator, case.label)], samples[(denominator, case.label)], strict=True)
    return statistics.median(a / b for a, b in pairs)


def report(samples: dict[tuple[str, str], list[float]], rounds: int) -> str:
    lines = [
        f"In process: microseconds per call, median of {rounds} interleaved rounds;",
        "ratios: median over the rounds of the times measured side by side.",
        "",
        "| route | wsgiapp | Flask | floor | Flask / wsgiapp | wsgiapp / floor |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for case in CASES:
        app, flask, floor = (
            statistics.median(samples[(label, case.label)]) * 1e6 for label in ("wsgiapp", "flask", "floor")
        )
        row = [
            case.label,
            f"{app:.1f}",
            f"{flask:.1f}",
            f"{floor:.2f}",
            f"{ratio(samples, case, 'flask', 'wsgiapp'):.1f}x",
            f"{ratio(samples, case, 'wsgiapp', 'floor'):.1f}x",
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
