"""The mutation gate, run after `mutmut run`: every mutant that mutmut's tests did not catch must be one
of the equivalent mutants that tests/equivalent_mutants.txt lists. An entry there names a mutant by what
it changes (its function, and the lines it removes and adds), not by mutmut's ordinal or line numbers,
which any edit elsewhere renumbers.

    python .ci/mutants.py            # the gate: exit 1 on a survivor that is not listed
    python .ci/mutants.py --write    # rewrite the list from this run, for a human to review

An entry that no longer survives (its code was edited or deleted) is only warned of: it lets no other
mutant through, and failing on it would fail CI for deleting code. `--write` drops it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIST = Path("tests/equivalent_mutants.txt")
# Tests that time out or die by a signal (mutmut's "segfault": an endless loop that ran out of memory on
# a loaded machine) catch a mutant as surely as tests that fail.
CAUGHT = {"killed", "timeout", "segfault"}
# A run that left these did not test every mutant.
UNFINISHED = {"not checked", "check was interrupted by user"}
# What --write gives a new survivor; the gate refuses it as a reason.
TODO = "TODO: why no test can tell it from the original"

# A mutant's function and the lines it removes ("-") and adds ("+"), whitespace folded.
Change = tuple[str, tuple[tuple[str, str], ...]]


@dataclass
class Entry:
    """A listed mutant: what it changes, and why it is equivalent (one line or more)."""

    change: Change
    reason: list[str]

    def lines(self) -> list[str]:
        function, diff = self.change
        removed_added = [f"{sign} {text}".rstrip() for sign, text in diff]
        return [f"{function}: {self.reason[0]}", *self.reason[1:], *removed_added]


def folded(line: str) -> tuple[str, str]:
    """A diff line's sign and its text with the whitespace folded."""
    return line[0], " ".join(line[1:].split())


def function_of(mutant: str) -> str:
    """`App.__init__` for `wsgiapp.xǁAppǁ__init____mutmut_3`, `render` for `wsgiapp.x_render__mutmut_7`."""
    mangled = mutant.rpartition("__mutmut_")[0].rpartition(".")[2]
    if mangled.startswith("xǁ"):
        return ".".join(mangled[2:].split("ǁ"))
    return mangled.removeprefix("x_")


def change_of(mutant: str, shown: str) -> Change:
    """What `mutmut show` says the mutant changes in its function, without line numbers or context."""
    lines = shown.splitlines()
    start = next((n for n, line in enumerate(lines) if line.startswith("@@")), len(lines))
    diff = tuple(folded(line) for line in lines[start:] if line[:1] in ("-", "+"))
    if not diff:
        raise SystemExit(f"mutants: no diff in `mutmut show {mutant}`:\n{shown}")
    return function_of(mutant), diff


def read_list() -> tuple[list[str], list[Entry]]:
    """The list's opening comment, and its entries: `function: why`, continued on lines that start
    with a space, then the lines removed and added; a blank line between entries."""
    head: list[str] = []
    entries: list[Entry] = []
    block: list[str] = []
    lines = (ROOT / LIST).read_text("utf-8").splitlines()
    for number, line in enumerate([*lines, ""], 1):
        if line.startswith("#") and not entries and not block:
            head.append(line)
        elif line.strip():
            block.append(line)
        elif block:
            function, _, why = block[0].partition(": ")
            reason = [why, *(line for line in block[1:] if line.startswith(" "))]
            diff = [line for line in block[len(reason) :] if line[:1] in ("-", "+")]
            if not why or len(reason) + len(diff) != len(block) or not diff:
                entry = "\n".join(block)
                raise SystemExit(f"mutants: {LIST} line {number - len(block)} is not an entry:\n{entry}")
            entries.append(Entry((function, tuple(folded(line) for line in diff)), reason))
            block = []
    return head, entries


def write_list(head: list[str], entries: list[Entry]) -> None:
    text = "".join(f"\n{line}" for entry in entries for line in ["", *entry.lines()])
    (ROOT / LIST).write_text("\n".join(head) + text + "\n", "utf-8")


def mutmut(command: str, *arguments: str) -> str:
    """The output of a mutmut command, run in the repository."""
    done = subprocess.run([command, *arguments], cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode:
        raise SystemExit(f"mutants: mutmut {' '.join(arguments)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--write", action="store_true", help=f"rewrite {LIST} from this run's survivors")
    parser.add_argument("--results", type=Path, help="read `mutmut results --all true` from this file")
    beside = str(Path(sys.executable).with_name("mutmut"))
    parser.add_argument(
        "--mutmut", default=beside, help="the mutmut command (default: the one beside python)"
    )
    args = parser.parse_args()

    # `mutmut results --all true`: "    name: status" for every mutant.
    listing = (
        args.results.read_text("utf-8") if args.results else mutmut(args.mutmut, "results", "--all", "true")
    )
    status_by_mutant = {}
    for line in listing.splitlines():
        name, _, status = line.strip().partition(": ")
        if status:
            status_by_mutant[name] = status
    counts = Counter(status_by_mutant.values())
    print("mutmut:", ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no mutants")
    if not status_by_mutant:
        print("mutants: mutmut made no mutants: did `mutmut run` run?", file=sys.stderr)
        return 1
    unfinished = sum(counts[status] for status in UNFINISHED)
    if unfinished:
        print(f"mutants: the run did not finish: {unfinished} mutants left untested", file=sys.stderr)
        return 1

    head, entries = read_list()
    listed = {entry.change for entry in entries}
    if len(listed) < len(entries):
        print(f"mutants: {LIST} lists a mutant twice", file=sys.stderr)
        return 1
    survivors = [name for name, status in status_by_mutant.items() if status not in CAUGHT]
    with ThreadPoolExecutor() as pool:
        shown = dict(
            zip(survivors, pool.map(lambda name: mutmut(args.mutmut, "show", name), survivors), strict=True)
        )
    change_by_survivor = {name: change_of(name, shown[name]) for name in survivors}
    unlisted = [name for name, change in change_by_survivor.items() if change not in listed]
    stale = [entry for entry in entries if entry.change not in change_by_survivor.values()]

    if args.write:
        kept = [entry for entry in entries if entry not in stale]
        new = {change_by_survivor[name]: Entry(change_by_survivor[name], [TODO]) for name in unlisted}
        write_list(head, kept + list(new.values()))
        print(f"mutants: {LIST}: {len(kept)} kept, {len(new)} new (to explain), {len(stale)} dropped")
        return 0

    for entry in stale:
        print("mutants: warning: no longer survives:", *entry.lines(), sep="\n", file=sys.stderr)
    if stale:
        print(f"mutants: warning: `python .ci/mutants.py --write` drops them from {LIST}", file=sys.stderr)
    for name in unlisted:
        print(f"\n{shown[name].rstrip()}", file=sys.stderr)
    todo = [entry for entry in entries if entry.reason[0].startswith("TODO")]
    for entry in todo:
        print("mutants: listed without a reason:", *entry.lines(), sep="\n", file=sys.stderr)
    if unlisted or todo:
        print(
            f"mutants: {len(unlisted)} surviving mutants not in {LIST}, {len(todo)} listed without a reason."
            " Kill each survivor with a test, or, if no test can tell it from the original, list it with why"
            " it is equivalent (`python .ci/mutants.py --write` lists it, with a TODO for the reason).",
            file=sys.stderr,
        )
        return 1
    print(f"mutants: the {len(survivors)} survivors are equivalent mutants that {LIST} lists")
    return 0


if __name__ == "__main__":
    sys.exit(main())
