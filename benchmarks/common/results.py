"""Result files: Markdown tables, figures, the file each benchmark writes, progress lines."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from common.shared_machine import Machine


def write_result(out: Path, name: str, title: str, body: str, machine: Machine, *,
                 quick: bool, command: str | None = None, plot: bool = True) -> Path:
    """Write ``out/NAME.md``: title, how to re-run, body, the machine. Returns the path."""
    out.mkdir(parents=True, exist_ok=True)
    command = command or f"python benchmarks/{name}.py"
    head = [f"# {title}", ""]
    if quick:
        head += ["> **QUICK RUN** (`--quick`): a tiny budget for the smoke test. "
                 "These numbers mean nothing; re-run without `--quick`.", ""]
    head += [f"Re-run: `{command}` (script: [`benchmarks/{name}.py`](../{name}.py))"
             + (f"; plot: [`{name}.png`]({name}.png)." if plot else "."), ""]
    text = "\n".join(head) + "\n" + body.rstrip() + "\n\n## Machine\n\n" + \
        "\n".join(machine.lines()) + "\n"
    path = out / f"{name}.md"
    path.write_text(text, encoding="utf-8")
    return path


def finish(args: argparse.Namespace, machine: Machine, name: str, title: str,
           body: str) -> Path:
    """The evidence scripts' last step: ``args.out/NAME.md`` beside ``NAME.png``."""
    path = write_result(args.out, name, title, body, machine, quick=args.quick)
    progress(f"wrote {path} and {name}.png")
    return path


def write_table(out: Path, text: str, machine: Machine, extra: Sequence[str] = ()) -> Path:
    """The timing scripts' result file ``out`` (a path): ``text``, then "## Machine" with
    ``extra`` lines after the machine's own. Printed too."""
    text = text.rstrip() + "\n\n## Machine\n\n" + "\n".join([*machine.lines(), *extra]) + "\n"
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out


def save_figure(fig, out: Path, name: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; floats as given (format them before)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_acc(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.3f}"


def progress(message: str) -> None:
    """One line on stderr, so a long run shows it is alive."""
    print(message, file=sys.stderr, flush=True)


def median_time(fn: Callable[[], object], repeats: int) -> float:
    """The median wall seconds of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)
