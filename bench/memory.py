"""The resident memory of one gunicorn worker: idle, and after many requests."""

from collections.abc import Sequence
from typing import NamedTuple

from bench import overhttp
from bench.cases import APPS
from bench.cases import CASES
from bench.overhttp import Server
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


def load(server: Server, requests: int) -> int:
    """Send at least this many requests, the routes in turn; return how many were sent."""
    sent = 0
    while sent < requests:
        for case in CASES:
            result = overhttp.wrk(server, case, duration=1)
            if result.errors:
                raise RuntimeError(f"{result.errors} errors on {case.label}:\n{server.output()[-2000:]}")
            sent += result.requests
    return sent


def run(requests: int, options: Sequence[str] = ()) -> dict[str, Memory]:
    results = {}
    # One worker per app, so that every request goes through the worker that is measured.
    with overhttp.servers({"WEB_CONCURRENCY": "1"}, options) as running:
        for label, server in running.items():
            pid = worker_pid(server)
            idle = rss(pid)
            # After the idle figure, which is taken after the one request that shows the server is up.
            for case in CASES:
                overhttp.check(label, server, case)
            sent = load(server, requests // 10)
            warm = rss(pid)
            sent += load(server, requests - sent)
            results[label] = Memory(idle, warm, rss(pid), sent)
    return results


def report(results: dict[str, Memory]) -> str:
    mb = 1024 * 1024
    floor = results["floor"]
    lines = [
        "Memory: RSS of the one worker (WEB_CONCURRENCY=1), MB",
        "",
        "| app | idle | after 10% | after all | requests | growth from idle | from 10% | idle vs floor |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label in APPS:
        m = results[label]
        row = [
            label,
            f"{m.idle / mb:.1f}",
            f"{m.warm / mb:.1f}",
            f"{m.loaded / mb:.1f}",
            f"{m.requests}",
            f"{(m.loaded - m.idle) / mb:+.2f}",
            f"{(m.loaded - m.warm) / mb:+.2f}",
            f"{(m.idle - floor.idle) / mb:+.1f}",
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
