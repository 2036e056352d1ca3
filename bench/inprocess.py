"""The cost of one call of each app's WSGI callable, per route, measured in this process."""

import hashlib
import statistics
import time
from collections.abc import Mapping
from collections.abc import Sequence
from io import BytesIO
from operator import truediv
from typing import Any
from typing import NamedTuple

from bench.cases import APPS
from bench.cases import BASES
from bench.cases import CASES
from bench.cases import LOGIN
from bench.cases import WSGIApp
from bench.cases import build_environ
from bench.cases import check_answer
from bench.cases import exported
from bench.cases import load
from bench.cases import load_revision
from bench.cases import respond
from bench.cases import with_cookie
from bench.report import paired
from bench.report import side_by_side
from bench.report import table
from bench.report import times


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
    for power in range(16):
        calls = 4**power
        elapsed = time_batch(app, environ, body, calls) * calls
        if elapsed >= batch_seconds / 10:
            return max(1, round(calls * batch_seconds / elapsed))
    raise RuntimeError(f"{calls} calls took only {elapsed} s: is the clock working?")


class Samples(NamedTuple):
    labels: list[str]  # the apps, then the baselines
    times: dict[tuple[str, str], list[float]]  # (app, route) -> seconds per call, one figure a round
    digests: dict[tuple[str, str], str]  # (app, route) -> SHA-256 of the page, in hex


def run(
    rounds: int, batch_seconds: float, apps: Mapping[str, str] = APPS, baselines: Sequence[str] = ()
) -> Samples:
    """Seconds per call for each (app, route), one figure a round; the apps take turns in every round.

    apps: label -> entry point (bench.cases.APPS); baselines: git revisions whose wsgiapp runs beside
    the others, each with the cookie it sets itself, labelled "baseline <revision>".
    """
    loaded = {label: load(entry_point) for label, entry_point in apps.items()}
    cases = {label: CASES for label in loaded}
    with exported(baselines) as folders:
        for number, (label, folder) in enumerate(folders.items()):
            app = load_revision(folder, f"wsgiapp_baseline_{number}")
            loaded[label] = app
            cookie = respond(app, *build_environ(LOGIN)).cookie()
            cases[label] = [with_cookie(case, cookie) for case in CASES]
        environs = {(label, case.label): build_environ(case) for label in loaded for case in cases[label]}
        digests = {}
        for case in CASES:
            for label, app in loaded.items():
                answer = respond(app, *environs[(label, case.label)])
                check_answer(label, case, answer.code, answer.body)
                digests[(label, case.label)] = hashlib.sha256(answer.body).hexdigest()
        calls = {key: calibrate(loaded[key[0]], *environ, batch_seconds) for key, environ in environs.items()}
        samples: dict[tuple[str, str], list[float]] = {key: [] for key in calls}
        labels = list(loaded)
        for round_number in range(rounds):
            # Rotate the order so no app always runs right after another.
            order = labels[round_number % len(labels) :] + labels[: round_number % len(labels)]
            for case in CASES:
                for label in order:
                    key = (label, case.label)
                    samples[key].append(time_batch(loaded[label], *environs[key], calls[key]))
    return Samples(labels, samples, digests)


def report(samples: Samples, rounds: int) -> str:
    def ratio(case_label: str, numerator: str, denominator: str) -> str:
        figures = samples.times
        return times(paired(figures[(numerator, case_label)], figures[(denominator, case_label)], truediv))

    frameworks = [base for base in BASES[:2] if base in samples.labels]
    floors = [base for base in BASES[2:] if base in samples.labels]
    baselines = [label for label in samples.labels if label not in APPS]
    rows = []
    for case in CASES:
        for label in samples.labels:
            micros = statistics.median(samples.times[(label, case.label)]) * 1e6
            rows.append(
                [
                    case.label,
                    label,
                    f"{micros:.2f}" if micros < 10 else f"{micros:.1f}",
                    *(ratio(case.label, base, label) for base in frameworks),
                    *(ratio(case.label, label, base) for base in floors),
                ]
            )
    header = [
        "route",
        "app",
        "µs/call",
        *(f"{base.capitalize()} / app" for base in frameworks),
        *(f"app / {base}" for base in floors),
    ]
    lines = [
        f"In process: microseconds per call, median of {rounds} interleaved rounds. Ratios: median over",
        "the rounds of the times measured side by side; Flask / app and Falcon / app: how many times",
        "cheaper than the framework (above 1: cheaper); app / floor and app / replay: how many times",
        "dearer than the floor (above 1: dearer).",
        "",
        *table(header, rows),
        "",
        "Checked before timing: every answer 200 with its route's text (GET /getcookie: the welcome",
        "page), but the constant floor's. SHA-256 of the pages, first 12 hex digits; = : wsgiapp's.",
        "",
    ]
    digests = []
    for case in CASES:
        own = samples.digests[("wsgiapp", case.label)]
        others = (samples.digests[(label, case.label)] for label in samples.labels[1:])
        digests.append([case.label, own[:12], *("=" if digest == own else digest[:12] for digest in others)])
    lines += table(["route", *samples.labels], digests, labels=1 + len(samples.labels))
    if baselines:
        lines += [
            "",
            "wsgiapp against each baseline revision, side by side in the same rounds: µs per call, and the",
            "median over the rounds of the difference and of the ratio.",
            "",
        ]
        header = ["route", "baseline", "µs, baseline", "µs, wsgiapp", "difference", "wsgiapp / baseline"]
        rows = [
            [
                case.label,
                *side_by_side(
                    baseline,
                    samples.times[(baseline, case.label)],
                    samples.times[("wsgiapp", case.label)],
                ),
            ]
            for case in CASES
            for baseline in baselines
        ]
        lines += table(header, rows)
    return "\n".join(lines)
