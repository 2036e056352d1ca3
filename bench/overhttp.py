"""Each app under the repository's gunicorn.conf.py, loaded in turn with wrk over loopback."""

import contextlib
import http.client
import os
import re
import shutil
import statistics
import subprocess
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from operator import truediv
from pathlib import Path
from typing import NamedTuple

from bench.cases import APPS
from bench.cases import BASES
from bench.cases import BENCH_KEY
from bench.cases import CASES
from bench.cases import LOGIN
from bench.cases import Answer
from bench.cases import Case
from bench.cases import WrongAnswer
from bench.cases import check_answer
from bench.cases import exported
from bench.cases import with_cookie
from bench.report import paired
from bench.report import table
from bench.servers import ROOT
from bench.servers import Server
from bench.servers import children
from bench.servers import free_port
from bench.servers import gunicorn_command
from bench.servers import serve

WRK_SCRIPT = Path(__file__).parent / "wrk.lua"
# The routes loaded over HTTP: reading the cookie and setting it.
HTTP_CASES = [case for case in CASES if case.path != "/"]
PERCENTILES = ("50%", "90%", "99%")
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


class Load(NamedTuple):
    requests: int
    per_second: float
    latency: dict[str, float]  # "50%" -> seconds
    errors: int  # answers other than 2xx or 3xx, and socket errors
    cpu_per_request: float  # seconds of CPU the server's workers spent per request


def cpu_seconds(pids: Sequence[int]) -> float:
    """User and system CPU time of these processes, from /proc/<pid>/stat."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def servers(
    env: dict[str, str] | None = None,
    options: Sequence[str] = (),
    apps: Mapping[str, str] = APPS,
    baselines: Mapping[str, Path] | None = None,
) -> Iterator[dict[str, Server]]:
    """The apps under gunicorn with the repository's gunicorn.conf.py, each on its own free port.

    options: gunicorn command-line options that override the file, to compare settings.
    apps: label -> entry point, run from the repository root (bench.cases.APPS).
    baselines: label -> a folder holding an earlier wsgiapp.py and html/ (bench.cases.exported),
    whose wsgiapp:application is served from there, with the same gunicorn.conf.py.
    """
    env = {"SECRET_KEY": BENCH_KEY, **(env or {})}
    config = ("-c", str(ROOT / "gunicorn.conf.py"))
    with contextlib.ExitStack() as stack:
        running = {}
        for label, entry_point in apps.items():
            port = free_port()
            running[label] = stack.enter_context(
                serve(gunicorn_command(port, *options, app=entry_point), port, env)
            )
        for label, folder in (baselines or {}).items():
            port = free_port()
            running[label] = stack.enter_context(
                serve(gunicorn_command(port, *config, *options), port, env, cwd=folder)
            )
        yield running


def send(server: Server, case: Case) -> Answer:
    """One request of the case on a new connection, its answer read whole."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request(case.method, case.path, body=case.body or None, headers=case.headers)
        response = conn.getresponse()
        return Answer(f"{response.status} {response.reason}", response.getheaders(), response.read())
    finally:
        conn.close()


def check(label: str, server: Server, case: Case) -> None:
    """One request first: a 200 with the route's page (the welcome page for GET /getcookie), or the
    load would measure error pages; the constant floor only needs the 200."""
    answer = send(server, case)
    try:
        check_answer(label, case, answer.code, answer.body)
    except WrongAnswer as error:
        raise WrongAnswer(f"{error}\n{server.url}:\n{server.output()[-2000:]}") from None


def own_cases(label: str, server: Server) -> list[Case]:
    """The cases with the cookie this server sets for the benchmark's form: wsgiapp's cookie for
    every app but an earlier revision, whose salt or spelling may differ."""
    if label in APPS:
        return CASES
    return [with_cookie(case, send(server, LOGIN).cookie()) for case in CASES]


def seconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * UNITS[unit]


def wrk(server: Server, case: Case, duration: int, connections: int = 8) -> Load:
    """Load one route for duration seconds with one wrk thread, and read wrk's summary."""
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "-s",
        str(WRK_SCRIPT),
        server.url + case.path,
        "--",
        case.method,
        case.body,
        *(f"{name}: {value}" for name, value in case.headers.items()),
    ]
    pids = sorted(children(server.process.pid))
    cpu_before = cpu_seconds(pids)
    # wrk with this module's own arguments.
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
    cpu = cpu_seconds(pids) - cpu_before
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    latency = {percent: seconds(value) for percent, value in re.findall(r"^\s+(\d+%)\s+(\S+)$", output, re.M)}
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return Load(
        requests=requests,
        per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        latency=latency,
        errors=errors,
        cpu_per_request=cpu / max(requests, 1),
    )


class Loads(NamedTuple):
    labels: list[str]  # the apps, then the baselines
    loads: dict[tuple[str, str], list[Load]]  # (app, route) -> one Load a round


def run(
    rounds: int,
    duration: int,
    options: Sequence[str] = (),
    apps: Mapping[str, str] = APPS,
    baselines: Sequence[str] = (),
) -> Loads:
    """Every (app, route) loaded once per round; the apps take turns, in a rotating order.

    baselines: git revisions whose wsgiapp is served beside the others, "baseline <revision>".
    """
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    loads: dict[tuple[str, str], list[Load]] = {}
    with exported(baselines) as folders, servers(options=options, apps=apps, baselines=folders) as running:
        labels = list(running)
        own = {
            label: {case.label: case for case in own_cases(label, server)}
            for label, server in running.items()
        }
        for label, server in running.items():
            for case in own[label].values():
                check(label, server, case)
        for label, server in running.items():
            for case in HTTP_CASES:
                wrk(server, own[label][case.label], duration=1)  # warm up
        for round_number in range(rounds):
            order = labels[round_number % len(labels) :] + labels[: round_number % len(labels)]
            for case in HTTP_CASES:
                for label in order:
                    load = wrk(running[label], own[label][case.label], duration)
                    loads.setdefault((label, case.label), []).append(load)
    return Loads(labels, loads)


def report(loads: Loads, rounds: int, duration: int, options: Sequence[str] = ()) -> str:
    settings = " ".join(["gunicorn.conf.py", *options])
    rows = []
    for case in HTTP_CASES:
        for label in loads.labels:
            runs = loads.loads[(label, case.label)]
            rows.append(
                [
                    case.label,
                    label,
                    f"{statistics.median(load.per_second for load in runs):.0f}",
                    *(
                        f"{statistics.median(load.latency[p] for load in runs) * 1e3:.2f}"
                        for p in PERCENTILES
                    ),
                    f"{statistics.median(load.cpu_per_request for load in runs) * 1e6:.0f}",
                    str(sum(load.errors for load in runs)),
                ]
            )
    header = ["route", "app", "requests/s", "p50 ms", "p90 ms", "p99 ms", "CPU µs/request", "errors"]
    lines = [
        f"Over HTTP: gunicorn with {settings}; wrk -t1 -c8; {rounds} rounds of {duration} s; medians.",
        "Every app answered each route with a 200 and its page (GET /getcookie: the welcome page) first,",
        "but the constant floor, which only needs the 200.",
        "",
        *table(header, rows),
    ]
    bases = [base for base in BASES if base in loads.labels] + [
        label for label in loads.labels if label not in APPS
    ]
    if not bases:
        return "\n".join(lines)
    rows = []
    for case in HTTP_CASES:
        for label in loads.labels:
            app = loads.loads[(label, case.label)]
            cells = [ratios(app, loads.loads[(base, case.label)]) for base in bases]
            rows.append([case.label, label, *cells])
    lines += [
        "",
        "Throughput against each other app in the same round, median over the rounds, as",
        "\"by requests/s, by server CPU per request\" (the other's CPU per request / the app's):",
        "above 1, the app serves more than the other. CPU per request holds up better when other",
        "processes share the cores, since it does not count the time spent waiting for them.",
        "",
        *table(["route", "app", *(f"vs {base}" for base in bases)], rows),
    ]
    return "\n".join(lines)


def ratios(app: list[Load], other: list[Load]) -> str:
    """The app's throughput over the other's in the same rounds, medians over the rounds, "by
    requests/s, by CPU per request" (the other's CPU per request over the app's)."""
    by_rate = paired([load.per_second for load in app], [load.per_second for load in other], truediv)
    by_cpu = paired([load.cpu_per_request for load in other], [load.cpu_per_request for load in app], truediv)
    return f"{by_rate:.2f}x, {by_cpu:.2f}x"
