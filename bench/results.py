"""One benchmark figure as a table row, the table itself, and the command line every benchmark shares.

Each bench/b*.py module runs alone (`python -m bench.b1_handler_cost --quick`) or under
bench/suite.py, which runs it as a child process and reads its rows back from --json-out.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from types import FrameType


@dataclass(frozen=True)
class Target:
    """A limit on the ratio (measured / baseline) or, with on_ratio=False, on the measured value."""

    limit: float
    at_most: bool
    on_ratio: bool = True
    unit: str = ""

    def describe(self) -> str:
        sign = "<=" if self.at_most else ">="
        if self.on_ratio:
            return f"{sign} {self.limit:g}x"
        return f"{sign} {self.limit:g} {self.unit}".rstrip()

    def is_met(self, measured: float | None, ratio: float | None) -> bool | None:
        value = ratio if self.on_ratio else measured
        if value is None or math.isnan(value):
            return None
        return value <= self.limit if self.at_most else value >= self.limit


@dataclass(frozen=True)
class Row:
    id: str
    figure: str
    unit: str
    measured: float | None
    baseline: float | None = None
    ratio: float | None = None
    target: str = "-"
    met: bool | None = None
    note: str = ""

    @classmethod
    def from_dict(cls, document: dict[str, object]) -> Row:
        return cls(**document)  # type: ignore[arg-type]


def figure_row(
    row_id: str,
    figure: str,
    unit: str,
    measured: float | None,
    baseline: float | None = None,
    *,
    target: Target | None = None,
    note: str = "",
) -> Row:
    """The ratio is measured / baseline whenever both are there."""
    ratio = measured / baseline if measured is not None and baseline else None
    return Row(
        id=row_id,
        figure=figure,
        unit=unit,
        measured=measured,
        baseline=baseline,
        ratio=ratio,
        target=target.describe() if target else "-",
        met=target.is_met(measured, ratio) if target else None,
        note=note,
    )


FAILED = "FAILED:"


def failed_row(row_id: str, figure: str, error: str) -> Row:
    return Row(id=row_id, figure=figure, unit="", measured=None, target="-", met=False, note=f"{FAILED} {error}")


def format_quantity(value: float | None, unit: str) -> str:
    if value is None or math.isnan(value):
        return "-"
    if abs(value) >= 100:
        number = f"{value:,.0f}"
    elif abs(value) >= 10:
        number = f"{value:.1f}"
    else:
        number = f"{value:.2f}"
    return f"{number} {unit}".strip()


def _met_text(met: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "-"}[met]


COLUMNS = ("id", "figure", "measured", "baseline", "ratio", "target", "met")


def table_lines(rows: Sequence[Row]) -> list[str]:
    """A Markdown table (it pastes into README as it is), then one note line per row that has one."""
    cells = [
        (
            row.id,
            row.figure,
            format_quantity(row.measured, row.unit),
            format_quantity(row.baseline, row.unit),
            "-" if row.ratio is None else f"{row.ratio:.2f}x",
            row.target,
            _met_text(row.met),
        )
        for row in rows
    ]
    widths = [max(len(column), *(len(cell[index]) for cell in cells)) for index, column in enumerate(COLUMNS)]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(value.ljust(width) for value, width in zip(values, widths, strict=True)) + " |"

    lines = [line(COLUMNS), "|" + "|".join("-" * (width + 2) for width in widths) + "|"]
    lines += [line(cell) for cell in cells]
    notes = [f"- {row.id}: {row.note}" for row in rows if row.note]
    if notes:
        lines += ["", *notes]
    return lines


def write_rows(path: str, rows: Iterable[Row]) -> None:
    with open(path, "w", encoding="utf-8") as file:
        json.dump([asdict(row) for row in rows], file, indent=2)


def read_rows(path: str) -> list[Row]:
    with open(path, encoding="utf-8") as file:
        return [Row.from_dict(document) for document in json.load(file)]


def _exit(signum: int, frame: FrameType | None) -> None:
    sys.exit(128 + signum)


def exit_cleanly_on_sigterm() -> None:
    """SIGTERM raises SystemExit in the main thread, so every `finally` stops what it started."""
    signal.signal(signal.SIGTERM, _exit)


def benchmark_main(
    description: str, run: Callable[[argparse.Namespace], list[Row]], parser: argparse.ArgumentParser | None = None
) -> int:
    """The command line of one benchmark module: --quick, --json-out, and the module's own flags."""
    parser = parser or argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and events: a rough figure, faster")
    parser.add_argument("--json-out", help="also write the rows here as JSON (bench/suite.py reads them)")
    arguments = parser.parse_args()
    exit_cleanly_on_sigterm()
    started = time.monotonic()
    rows = run(arguments)
    if arguments.json_out:
        write_rows(arguments.json_out, rows)
    print("\n".join(table_lines(rows)))
    print(f"({time.monotonic() - started:.0f} s)")
    # Unmet targets are findings, not failures: only a benchmark that could not measure exits 1.
    return 1 if any(row.note.startswith(FAILED) for row in rows) else 0
