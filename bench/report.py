"""The reports' pieces: Markdown tables, ratios, and medians of figures taken side by side."""

import statistics
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence


def table(header: Sequence[str], rows: Iterable[Sequence[str]], labels: int = 2) -> list[str]:
    """The lines of a Markdown table: its first `labels` columns name the row, the others are figures
    (aligned right)."""
    rule = ["---"] * labels + ["---:"] * (len(header) - labels)
    return ["| " + " | ".join(cells) + " |" for cells in (header, rule, *rows)]


def times(value: float) -> str:
    """A ratio with three significant figures at most: 0.85x, 12.2x, 171x."""
    return f"{value:.2f}x" if value < 10 else f"{value:.1f}x" if value < 100 else f"{value:.0f}x"


def paired(
    first: Sequence[float], second: Sequence[float], compare: Callable[[float, float], float]
) -> float:
    """The median over the rounds of compare(first's figure, second's figure), taken in the same round."""
    return statistics.median(compare(a, b) for a, b in zip(first, second, strict=True))


def side_by_side(label: str, before: list[float], after: list[float]) -> list[str]:
    """A row: the medians of two variants timed in the same rounds (µs), and the medians over the
    rounds of their difference and of their ratio."""
    return [
        label,
        f"{statistics.median(before) * 1e6:.2f}",
        f"{statistics.median(after) * 1e6:.2f}",
        f"{paired(before, after, lambda a, b: b - a) * 1e6:+.2f}",
        f"{paired(before, after, lambda a, b: b / a):.3f}x",
    ]
