"""Run the benchmarks from the repository root: python -m bench [--long] [PART ...]"""

import argparse
import shlex

from bench import cases  # first: it sets the shared SECRET_KEY before any app is imported
from bench import inprocess
from bench import memory
from bench import neighbours
from bench import overhttp

PARTS = ("inprocess", "http", "memory", "neighbours")


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
        action="append",
        default=[],
        help="inprocess, http, memory: wsgiapp as it was at this git revision beside the others"
        " (e.g. HEAD~1), labelled 'baseline REVISION'; give it again for more revisions",
    )
    parser.add_argument(
        "--apps",
        default=",".join(cases.APPS),
        metavar="LIST",
        help=f"inprocess, http, memory: the apps to run, of {','.join(cases.APPS)} (default: all), wsgiapp"
        " always; 'baseline' may name the --baseline revisions, which run beside them whenever given",
    )
    args = parser.parse_args()
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part {', '.join(sorted(unknown))}: choose from {', '.join(PARTS)}")
    chosen = set(args.apps.split(","))
    unknown = chosen - {*cases.APPS, "baseline"}
    if unknown:
        parser.error(
            f"unknown app {', '.join(sorted(unknown))} in --apps: choose from {', '.join(cases.APPS)}"
        )
    if "wsgiapp" not in chosen:
        parser.error("--apps must hold wsgiapp: every other app is checked and compared against it")
    if "baseline" in chosen and not args.baseline:
        parser.error("--apps names baseline: give the revision with --baseline REVISION")
    apps = {label: entry_point for label, entry_point in cases.APPS.items() if label in chosen}
    parts = args.parts or PARTS
    options = shlex.split(args.gunicorn)
    if "inprocess" in parts:
        rounds, batch = (41, 0.05) if args.long else (15, 0.01)
        samples = inprocess.run(rounds, batch, apps, args.baseline)
        print(inprocess.report(samples, rounds), end="\n\n", flush=True)
    if "http" in parts:
        rounds, duration = (5, 10) if args.long else (3, 1)
        loads = overhttp.run(rounds, duration, options, apps, args.baseline)
        print(overhttp.report(loads, rounds, duration, options), end="\n\n", flush=True)
    if "memory" in parts:
        requests = args.requests or (100_000 if args.long else 10_000)
        print(memory.report(memory.run(requests, options, apps, args.baseline)), end="\n\n", flush=True)
    if "neighbours" in parts:
        rounds, batch, duration = (21, 0.05, 5) if args.long else (9, 0.01, 1)
        process = neighbours.in_process(rounds, batch)
        http = neighbours.over_http(min(rounds, 5), duration)
        print(neighbours.report(process, http), end="\n\n", flush=True)


if __name__ == "__main__":
    main()
