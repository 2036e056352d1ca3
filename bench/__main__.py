"""Run the benchmarks from the repository root: python -m bench [--long] [PART ...]"""

import argparse
import shlex

from bench import cases  # noqa: F401  (sets the shared SECRET_KEY before any app is imported)
from bench import inprocess
from bench import memory
from bench import neighbours
from bench import overhttp
from bench import template

PARTS = ("inprocess", "http", "memory", "template", "neighbours")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("parts", nargs="*", metavar="part", help=f"any of {', '.join(PARTS)} (default: all)")
    parser.add_argument("--long", action="store_true", help="more and longer rounds: minutes, not seconds")
    parser.add_argument(
        "--requests",
        type=int,
        help="requests sent for the memory figures (default: 10,000; 100,000 with --long)",
    )
    parser.add_argument(
        "--gunicorn",
        default="",
        metavar="OPTIONS",
        help="gunicorn options over gunicorn.conf.py, to compare: --gunicorn='-k gthread --threads 4'",
    )
    parser.add_argument(
        "--baseline",
        metavar="REVISION",
        help="inprocess: time wsgiapp as it was at this git revision beside the others (e.g. HEAD~1)",
    )
    args = parser.parse_args()
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part {', '.join(sorted(unknown))}: choose from {', '.join(PARTS)}")
    parts = args.parts or PARTS
    options = shlex.split(args.gunicorn)
    if "inprocess" in parts:
        rounds, batch = (41, 0.05) if args.long else (15, 0.01)
        print(inprocess.report(inprocess.run(rounds, batch, args.baseline), rounds), end="\n\n", flush=True)
    if "http" in parts:
        rounds, duration = (5, 10) if args.long else (3, 1)
        loads = overhttp.run(rounds, duration, options)
        print(overhttp.report(loads, rounds, duration, options), end="\n\n", flush=True)
    if "memory" in parts:
        requests = args.requests or (100_000 if args.long else 10_000)
        print(memory.report(memory.run(requests, options)), end="\n\n", flush=True)
    if "neighbours" in parts:
        rounds, batch, duration = (21, 0.05, 5) if args.long else (9, 0.01, 1)
        process = neighbours.in_process(rounds, batch)
        http = neighbours.over_http(min(rounds, 5), duration)
        print(neighbours.report(process, http), end="\n\n", flush=True)
    if "template" in parts:
        rounds, batch = (41, 0.05) if args.long else (15, 0.01)
        print(template.report(template.run(rounds, batch), rounds), end="\n\n", flush=True)


if __name__ == "__main__":
    main()
