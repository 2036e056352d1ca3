"""Other sites' cookies: GET /getcookie with the user's cookie among about 7 KB of neighbours' cookies,
against the same request with the same bytes in another header, side by side, in process and over HTTP
under gunicorn. The app looks only at the user's own pairs: the neighbours should cost next to nothing."""

import statistics
from operator import truediv

from bench.cases import APPS
from bench.cases import BENCH_KEY
from bench.cases import COOKIE
from bench.cases import WELCOME
from bench.cases import Case
from bench.cases import build_environ
from bench.cases import check_answer
from bench.cases import load
from bench.cases import respond
from bench.inprocess import calibrate
from bench.inprocess import time_batch
from bench.overhttp import check
from bench.overhttp import wrk
from bench.report import paired
from bench.report import table
from bench.servers import free_port
from bench.servers import gunicorn_command
from bench.servers import serve

# 640 small cookies, about 7 KB: a Cookie line stays under gunicorn's limit_request_field_size (8190).
NEIGHBOURS = "; ".join(f"n{number}=v{number:02d}" for number in range(640))
CASES = [
    Case(
        "neighbours in Cookie",
        "GET",
        "/getcookie",
        {"Cookie": f"{NEIGHBOURS}; {COOKIE}"},
        "",
        expect=WELCOME,
    ),
    Case(
        "the same bytes elsewhere",
        "GET",
        "/getcookie",
        {"Cookie": COOKIE, "X-Padding": NEIGHBOURS},
        "",
        expect=WELCOME,
    ),
]


def in_process(rounds: int, batch_seconds: float) -> dict[str, list[float]]:
    """µs per call of each case, one figure a round, the cases taking turns."""
    app = load(APPS["wsgiapp"])
    environs = {case.label: build_environ(case) for case in CASES}
    for case in CASES:
        answer = respond(app, *environs[case.label])
        check_answer("wsgiapp", case, answer.code, answer.body)
    calls = {label: calibrate(app, *environ, batch_seconds) for label, environ in environs.items()}
    times: dict[str, list[float]] = {case.label: [] for case in CASES}
    for _ in range(rounds):
        for label, environ in environs.items():
            times[label].append(time_batch(app, *environ, calls[label]) * 1e6)
    return times


def over_http(rounds: int, duration: int) -> dict[str, list[float]]:
    """CPU µs per request of gunicorn's workers for each case, under wrk, one figure a round."""
    port = free_port()
    cpu: dict[str, list[float]] = {case.label: [] for case in CASES}
    with serve(gunicorn_command(port), port, {"SECRET_KEY": BENCH_KEY}) as server:
        for case in CASES:
            check("wsgiapp", server, case)
            wrk(server, case, duration=1)  # warm up
        for _ in range(rounds):
            for case in CASES:
                cpu[case.label].append(wrk(server, case, duration).cpu_per_request * 1e6)
    return cpu


def report(process: dict[str, list[float]], http: dict[str, list[float]]) -> str:
    neighbours, elsewhere = (case.label for case in CASES)
    rows = [
        [
            f"{where}, {unit}",
            f"{statistics.median(figures[neighbours]):.1f}",
            f"{statistics.median(figures[elsewhere]):.1f}",
            f"{paired(figures[neighbours], figures[elsewhere], truediv):.2f}x",
        ]
        for where, figures, unit in [
            ("in process", process, "µs a call"),
            ("over HTTP", http, "CPU µs a request"),
        ]
    ]
    lines = [
        "GET /getcookie with the user's cookie among 640 neighbours' cookies (about 7 KB), against",
        "the same bytes in another header: medians over the rounds, and of the ratio round by round.",
        "",
        *table(["where", neighbours, elsewhere, "ratio"], rows, labels=1),
    ]
    return "\n".join(lines)
