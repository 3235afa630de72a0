"""`tuner split FILE -o DIR`: the rows of each split as CSV files, so a user can compare
their own baselines with tuner on exactly tuner's rows.

A file or table source's rows are written as read (every column, the target included,
before any preprocessing), in the order of the source; rows without a target are in no
split and in no file. A built-in dataset's rows are written as scikit-learn returns them,
its feature names as header and the class index (a regression dataset: the target value)
in a last column ``target``.

The three files are written under temporary names and renamed only when all three are
complete; files already in DIR are refused unless ``force``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tuner.errors import TunerError
from tuner.files import same_file
from tuner.holdout import RULE, SPLITS

if TYPE_CHECKING:
    import pandas as pd

    from tuner.spec import StudySpec

__all__ = ["SplitFiles", "split_frames", "write_splits"]

FILE_NAMES = {name: f"{name}.csv" for name in SPLITS}


@dataclass(frozen=True)
class SplitFiles:
    """What `write_splits` wrote: each split's file and row count."""

    study: str
    source: str
    rule: str                  # how rows were split
    paths: dict[str, Path]
    rows: dict[str, int]
    dropped_rows: int          # rows without a target: in no split

    def as_dict(self) -> dict[str, Any]:
        return {"study": self.study, "source": self.source, "rule": self.rule,
                "splits": {name: {"path": str(self.paths[name]), "rows": self.rows[name]}
                           for name in SPLITS},
                "dropped_rows": self.dropped_rows}

    @property
    def summary(self) -> str:
        lines = [f"{self.paths[name]}  {self.rows[name]:,} rows" for name in SPLITS]
        return "\n".join(lines)


def split_frames(spec: StudySpec) -> tuple[dict[str, pd.DataFrame], str, str, int]:
    """Each split's rows as a DataFrame, where they came from, the split rule, and how
    many rows are in none (no target)."""
    data = spec.data
    if not data.is_table:
        return _dataset_frames(spec)
    from tuner.table import read_table, split_rows

    raw, table = read_table(data, spec.path, spec.task if spec.task_stated else None)
    parts = split_rows(table, test_fraction=data.test_fraction,
                       validation_fraction=data.validation_fraction, seed=data.seed,
                       test_seed=data.test_seed)
    frames = {}
    for name, rows in zip(SPLITS, parts, strict=True):
        at = np.sort(rows if table.source_rows is None else table.source_rows[rows] - 1)
        frames[name] = raw.iloc[at]
    return frames, table.origin, RULE, table.n_dropped


def _dataset_frames(spec: StudySpec) -> tuple[dict[str, pd.DataFrame], str, str, int]:
    """A built-in dataset's raw rows, split as its trials see them (`tuner.data`)."""
    import pandas as pd

    from tuner.data import feature_names, load_xy, split_indices

    data = spec.data
    assert data.dataset is not None
    X, y = load_xy(data.dataset, seed=data.seed, params=dict(data.params))
    parts = split_indices(y, test_fraction=data.test_fraction,
                          validation_fraction=data.validation_fraction, seed=data.seed,
                          test_seed=data.test_seed, name=data.dataset,
                          stratify=spec.task == "classification")
    columns = feature_names(data.dataset, X.shape[1])
    frames = {}
    for name, rows in zip(SPLITS, parts, strict=True):
        frame = pd.DataFrame(X[rows], columns=columns)
        frame["target"] = y[rows]
        frames[name] = frame
    rule = ("stratified (scikit-learn train_test_split)" if spec.task == "classification"
            else "random (scikit-learn train_test_split, not stratified)")
    return frames, f"dataset {data.dataset}", rule, 0


def write_splits(file: str | Path, out_dir: str | Path, *, force: bool = False
                 ) -> SplitFiles:
    """Write train.csv, validation.csv and test.csv of the study in ``file`` into
    ``out_dir`` (made if missing): all three, or none."""
    from tuner.spec import load_spec

    spec = load_spec(file)
    out = Path(out_dir)
    paths = {name: out / FILE_NAMES[name] for name in SPLITS}
    if out.exists() and not out.is_dir():
        raise TunerError(f"-o {out}: is a file, not a folder")
    source = None
    if spec.data.path is not None:
        from tuner.sources import resolve_path

        source = resolve_path(spec.data.path, spec.path)
    for path in paths.values():
        if source is not None and same_file(path, source):
            raise TunerError(f"-o {out}: {path} is the study's data ({spec.data.path}); "
                             "write the splits elsewhere")
        if path.exists() and not force:
            raise TunerError(f"-o {out}: {path.name} exists; pass --force to overwrite it, "
                             "or choose another folder")
    frames, origin, rule, dropped = split_frames(spec)
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write_all(frames, paths)
    except OSError as e:
        raise TunerError(f"-o {out}: cannot write there: {e.strerror or e}") from None
    return SplitFiles(study=spec.name, source=origin, rule=rule, paths=paths,
                      rows={name: len(frames[name]) for name in SPLITS},
                      dropped_rows=dropped)


def _write_all(frames: dict[str, pd.DataFrame], paths: dict[str, Path]) -> None:
    """Every file under a temporary name first (as `tuner.files.atomic_path` names them),
    then the renames: a failure while writing leaves the old files (or none) and no
    temporary file."""
    tmps = {name: path.with_name(f".{path.name}.{os.getpid()}.tmp")
            for name, path in paths.items()}
    try:
        for name in SPLITS:
            frames[name].to_csv(tmps[name], index=False)
        for name in SPLITS:
            os.replace(tmps[name], paths[name])
    finally:
        for tmp in tmps.values():
            tmp.unlink(missing_ok=True)
