"""The resident memory of one gunicorn worker: idle, and after many requests."""

from collections.abc import Mapping
from collections.abc import Sequence
from typing import NamedTuple

from bench import overhttp
from bench.cases import APPS
from bench.cases import Case
from bench.cases import exported
from bench.report import table
from bench.servers import Server
from bench.servers import children
from bench.servers import memory_kib


class Memory(NamedTuple):
    idle: int  # bytes, after start and one request
    warm: int  # after the first tenth of the requests
    loaded: int  # after all of them
    requests: int


def worker_pid(server: Server) -> int:
    """The one worker of a gunicorn master started with WEB_CONCURRENCY=1."""
    pids = sorted(children(server.process.pid))
    if len(pids) != 1:
        raise RuntimeError(f"expected one gunicorn worker, found {pids}")
    return pids[0]


def rss(pid: int) -> int:
    """Resident set size in bytes."""
    return memory_kib(pid, "VmRSS") * 1024


def load(server: Server, cases: Sequence[Case], requests: int) -> int:
    """Send at least this many requests, the routes in turn; return how many were sent."""
    sent = 0
    while sent < requests:
        for case in cases:
            result = overhttp.wrk(server, case, duration=1)
            if result.errors:
                raise RuntimeError(f"{result.errors} errors on {case.label}:\n{server.output()[-2000:]}")
            sent += result.requests
    return sent


def run(
    requests: int, options: Sequence[str] = (), apps: Mapping[str, str] = APPS, baselines: Sequence[str] = ()
) -> dict[str, Memory]:
    """Each app's worker, and each baseline revision's (bench.overhttp.run), in turn."""
    results = {}
    # One worker per app, so that every request goes through the worker that is measured.
    with (
        exported(baselines) as folders,
        overhttp.servers({"WEB_CONCURRENCY": "1"}, options, apps, folders) as running,
    ):
        for label, server in running.items():
            pid = worker_pid(server)
            idle = rss(pid)
            # After the idle figure, which is taken after the one request that shows the server is up.
            cases = overhttp.own_cases(label, server)
            for case in cases:
                overhttp.check(label, server, case)
            sent = load(server, cases, requests // 10)
            warm = rss(pid)
            sent += load(server, cases, requests - sent)
            results[label] = Memory(idle, warm, rss(pid), sent)
    return results


def report(results: dict[str, Memory]) -> str:
    mb = 1024 * 1024
    floor = results.get("floor")
    rows = []
    for label, m in results.items():
        rows.append(
            [
                label,
                f"{m.idle / mb:.1f}",
                f"{m.warm / mb:.1f}",
                f"{m.loaded / mb:.1f}",
                f"{m.requests}",
                f"{(m.loaded - m.idle) / mb:+.2f}",
                f"{(m.loaded - m.warm) / mb:+.2f}",
                *([f"{(m.idle - floor.idle) / mb:+.1f}"] if floor else []),
            ]
        )
    header = ["app", "idle", "after 10%", "after all", "requests", "growth from idle", "from 10%"]
    header += ["idle vs floor"] if floor else []
    return "\n".join(
        ["Memory: RSS of the one worker (WEB_CONCURRENCY=1), MB", "", *table(header, rows, labels=1)]
    )
