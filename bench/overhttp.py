"""Each app under the repository's gunicorn.conf.py, loaded in turn with wrk over loopback."""

import contextlib
import http.client
import os
import re
import shutil
import statistics
import subprocess
from collections.abc import Iterator
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from bench.cases import APPS
from bench.cases import BASES
from bench.cases import BENCH_KEY
from bench.cases import CASES
from bench.cases import Case
from bench.cases import WrongAnswer
from bench.cases import check_answer
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
def servers(env: dict[str, str] | None = None, options: Sequence[str] = ()) -> Iterator[dict[str, Server]]:
    """Every app under gunicorn with the repository's gunicorn.conf.py, each on its own free port.

    options: gunicorn command-line options that override the file, to compare settings.
    """
    env = {"SECRET_KEY": BENCH_KEY, **(env or {})}
    with contextlib.ExitStack() as stack:
        running = {}
        for label, entry_point in APPS.items():
            port = free_port()
            running[label] = stack.enter_context(
                serve(gunicorn_command(port, *options, app=entry_point), port, env)
            )
        yield running


def check(label: str, server: Server, case: Case) -> None:
    """One request first: a 200 with the route's page (the welcome page for GET /getcookie), or the
    load would measure error pages; the constant floor only needs the 200."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    conn.request(case.method, case.path, body=case.body or None, headers=case.headers)
    response = conn.getresponse()
    page = response.read()
    conn.close()
    try:
        check_answer(label, case, response.status, page)
    except WrongAnswer as error:
        raise WrongAnswer(f"{error}\n{server.url}:\n{server.output()[-2000:]}") from None


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


def run(rounds: int, duration: int, options: Sequence[str] = ()) -> dict[tuple[str, str], list[Load]]:
    """Every (app, route) loaded once per round; the apps take turns, in a rotating order."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    loads: dict[tuple[str, str], list[Load]] = {}
    with servers(options=options) as running:
        labels = list(running)
        for label, server in running.items():
            for case in CASES:
                check(label, server, case)
        for case in HTTP_CASES:
            for server in running.values():
                wrk(server, case, duration=1)  # warm up
        for round_number in range(rounds):
            order = labels[round_number % len(labels) :] + labels[: round_number % len(labels)]
            for case in HTTP_CASES:
                for label in order:
                    loads.setdefault((label, case.label), []).append(wrk(running[label], case, duration))
    return loads


def ratio(loads: dict[tuple[str, str], list[Load]], case: Case, app: str, base: str, cpu: bool) -> float:
    """Median over the rounds of app's throughput relative to base's, measured side by side.

    cpu: compare the server CPU time per request instead of requests/s; that holds up better
    when other processes share the cores, since it does not count the time spent waiting for them.
    """
    pairs = zip(loads[(app, case.label)], loads[(base, case.label)], strict=True)
    if cpu:
        return statistics.median(b.cpu_per_request / a.cpu_per_request for a, b in pairs)
    return statistics.median(a.per_second / b.per_second for a, b in pairs)


def report(
    loads: dict[tuple[str, str], list[Load]], rounds: int, duration: int, options: Sequence[str] = ()
) -> str:
    settings = " ".join(["gunicorn.conf.py", *options])
    lines = [
        f"Over HTTP: gunicorn with {settings}; wrk -t1 -c8; {rounds} rounds of {duration} s; medians.",
        "Every app answered each route with a 200 and its page (GET /getcookie: the welcome page) first,",
        "but the constant floor, which only needs the 200.",
        "",
        "| route | app | requests/s | p50 ms | p90 ms | p99 ms | CPU µs/request | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for case in HTTP_CASES:
        for label in APPS:
            runs = loads[(label, case.label)]
            row = [
                case.label,
                label,
                f"{statistics.median(load.per_second for load in runs):.0f}",
                *(f"{statistics.median(load.latency[p] for load in runs) * 1e3:.2f}" for p in PERCENTILES),
                f"{statistics.median(load.cpu_per_request for load in runs) * 1e6:.0f}",
                str(sum(load.errors for load in runs)),
            ]
            lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "Throughput against each other app in the same round, median over the rounds, as",
        "\"by requests/s, by server CPU per request\" (the other's CPU per request / the app's):",
        "above 1, the app serves more than the other.",
        "",
        "| route | app | " + " | ".join(f"vs {base}" for base in BASES) + " |",
        "| --- | --- |" + " ---: |" * len(BASES),
    ]
    for case in HTTP_CASES:
        for label in APPS:
            cells = [
                ", ".join(f"{ratio(loads, case, label, base, cpu):.2f}x" for cpu in (False, True))
                for base in BASES
            ]
            lines.append(f"| {case.label} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
