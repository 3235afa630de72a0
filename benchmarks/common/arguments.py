"""Command-line arguments every benchmark takes: ``--quick`` (a tiny budget for the smoke
tests, written to a temporary folder, never over the published results) and ``--out``."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent  # benchmarks/


RESULTS = HERE / "results"


QUICK_RESULTS = Path(tempfile.gettempdir()) / "tuner-benchmarks-quick"


class _Parser(argparse.ArgumentParser):
    def parse_args(self, *args, **kwargs):  # type: ignore[override]
        ns = super().parse_args(*args, **kwargs)
        if ns.out is None:  # a quick run never overwrites the published results by default
            ns.out = QUICK_RESULTS if ns.quick else RESULTS
        return ns


def _first_line(doc: str | None) -> str | None:
    return doc.strip().splitlines()[0] if doc and doc.strip() else None


def parser(doc: str | None) -> argparse.ArgumentParser:
    """``--quick`` and ``--out DIR`` (for NAME.md and NAME.png)."""
    p = _Parser(description=_first_line(doc),
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="tiny budget, for the smoke tests: the numbers mean nothing")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help=f"folder for NAME.md and NAME.png (default: {RESULTS}; with "
                        f"--quick: {QUICK_RESULTS})")
    return p


def file_parser(doc: str | None, name: str) -> argparse.ArgumentParser:
    """``--quick`` and ``--out FILE`` (default results/NAME.md), for the timing scripts
    that write one table."""
    p = argparse.ArgumentParser(description=_first_line(doc))
    p.add_argument("--quick", action="store_true", help="tiny budget (smoke test)")
    p.add_argument("--out", type=Path, default=RESULTS / f"{name}.md", metavar="FILE",
                   help=f"markdown file (default {RESULTS / (name + '.md')})")
    return p


def add_options(p: argparse.ArgumentParser, *, seeds: int | None = None,
                epochs: int | None = None, dataset: bool = False) -> argparse.ArgumentParser:
    """The options most evidence scripts take, with their defaults."""
    if seeds is not None:
        p.add_argument("--seeds", type=int, default=seeds)
    if epochs is not None:
        p.add_argument("--epochs", type=int, default=epochs)
    if dataset:
        p.add_argument("--dataset", default="synthetic", choices=["synthetic", "digits"])
    return p
