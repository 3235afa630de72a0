"""Preprocessing of a table's columns: fitted by scikit-learn, applied by plain numpy.

The fit is scikit-learn's own `ColumnTransformer`, on the training split only:

- numeric columns: `SimpleImputer(strategy="median")` then `StandardScaler`;
- categorical columns: `SimpleImputer(strategy="constant", fill_value=MISSING)` (a
  missing value becomes a category of its own) then `OneHotEncoder(handle_unknown=
  "ignore")` (a category never seen in training encodes as all zeros).

What the fit learned is exported as a few float64 arrays (medians, means, scales) and
JSON (column names and order, the categories of each column, the target's classes as the
user wrote them), so a model file carries it without pickle and `tuner predict` applies
it without the study, the training data or scikit-learn objects. `Preprocessing.
transform` is that application; it is also what turns the training, validation and test
splits into arrays, so all four go through the same code. tests/test_preprocess.py checks
it against the fitted ColumnTransformer's own `transform`.

Categorical values are compared as text labels (`category_labels`): 3, 3.0 and "3" are
the same category, so a column read as floats in training (because it had a gap) and as
integers at prediction time still matches.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tuner.cells import (
    MISSING,
    PreprocessError,
    category_labels,
    numeric_values,
    plain_label,
)

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.compose import ColumnTransformer

# pandas and scikit-learn are imported inside the functions: the CLI imports this module
# for every command and should not wait for either when it only reads a study.

__all__ = [
    "FORMAT",
    "MISSING",
    "PreprocessError",
    "Preprocessing",
    "category_labels",
    "column_transformer",
    "nan_median",
    "numeric_values",
]

FORMAT = 1  # version of the exported layout (`to_json`), checked by `from_saved`


def column_transformer(numeric: Sequence[str], categorical: Sequence[str]
                       ) -> ColumnTransformer:
    """The unfitted scikit-learn transformer whose fit `Preprocessing.fit` exports."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    # keep_empty_features: a column with no value at all in the training split is kept
    # (imputed as 0 / as MISSING) rather than silently dropped, so the output width is
    # always what the column lists say.
    numeric_part = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler())
    categorical_part = make_pipeline(
        SimpleImputer(strategy="constant", fill_value=MISSING, keep_empty_features=True),
        OneHotEncoder(handle_unknown="ignore", sparse_output=False))
    return ColumnTransformer(
        [("numeric", numeric_part, list(numeric)),
         ("categorical", categorical_part, list(categorical))],
        remainder="drop", sparse_threshold=0.0)


def sklearn_input(frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]
                  ) -> pd.DataFrame:
    """``frame``'s columns as scikit-learn's imputers expect them: numeric as float64,
    categorical as an object column of text labels with NaN where missing."""
    import pandas as pd

    columns: dict[str, Any] = {}
    for name in numeric:
        columns[name] = numeric_values(frame[name], where=f"column {name!r}")
    for name in categorical:
        columns[name] = np.asarray(category_labels(frame[name]).astype(object))
    return pd.DataFrame(columns, index=pd.RangeIndex(len(frame)))


@dataclass(frozen=True, eq=False)
class Preprocessing:
    """What a fitted preprocessing learned, as plain arrays and names.

    ``median``, ``mean`` and ``scale`` have one float64 entry per numeric column;
    ``categories[j]`` lists the categories of ``categorical[j]`` in the one-hot order
    (MISSING among them if the training split had gaps). ``classes`` are the target's
    labels as the user wrote them (str, int or bool); the model's class ``k`` is
    ``classes[k]``.
    """

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    median: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    categories: tuple[tuple[str, ...], ...]
    target: str
    classes: tuple[Any, ...]

    # --- fitting -----------------------------------------------------------------------

    @classmethod
    def fit(cls, frame: pd.DataFrame, *, numeric: Sequence[str], categorical: Sequence[str],
            target: str, classes: Sequence[Any], rows: np.ndarray | None = None
            ) -> Preprocessing:
        """Fit the steps of `column_transformer` on ``frame``'s training rows: all of
        them, or those at positions ``rows``.

        What the ColumnTransformer would learn, at a fraction of its cost on a large
        table; tests/test_preprocess.py checks the result equals `from_fitted` of one
        fitted the ordinary way, to the last bit:

        - the median is `nan_median` (SimpleImputer's masked-array median sorts every
          column: 6 s for 640,000 x 20 values, against 0.2 s);
        - the StandardScaler is scikit-learn's, fitted on the imputed values;
        - the imputer and one-hot encoder of the categorical part are scikit-learn's,
          fitted on each column's distinct values: the same categories, without encoding
          every training row into a one-hot matrix only to throw it away (which
          ColumnTransformer.fit does).
        """
        if not numeric and not categorical:
            raise PreprocessError("no feature columns to preprocess")
        transformer = column_transformer(numeric, categorical)
        pipes = {name: pipe for name, pipe, _ in transformer.transformers}
        median = mean = scale = np.zeros(0)
        if numeric:
            # Column-major, as scikit-learn gets a DataFrame's values: a float sum depends
            # on the memory layout it runs over, and the scaler's statistics then agree
            # with the ColumnTransformer's to the last bit.
            n = len(frame) if rows is None else len(rows)
            X = np.empty((len(numeric), n), dtype=np.float64).T
            for j, name in enumerate(numeric):
                x = numeric_values(frame[name], where=f"column {name!r}")
                X[:, j] = x if rows is None else x[rows]
            median = nan_median(X)
            np.copyto(X, median, where=np.isnan(X))
            scaler = pipes["numeric"].steps[-1][1].fit(X)
            mean = np.asarray(scaler.mean_, dtype=np.float64)
            scale = np.asarray(scaler.scale_, dtype=np.float64)
            del X
        categories: tuple[tuple[str, ...], ...] = ()
        if categorical:
            encoder = pipes["categorical"].fit(
                _distinct_values(frame, categorical, rows))[-1]
            categories = tuple(tuple(str(c) for c in cats) for cats in encoder.categories_)
        return cls(numeric=tuple(numeric), categorical=tuple(categorical), median=median,
                   mean=mean, scale=scale, categories=categories, target=target,
                   classes=tuple(plain_label(c) for c in classes))

    @classmethod
    def from_fitted(cls, transformer: ColumnTransformer, *, target: str,
                    classes: Sequence[Any]) -> Preprocessing:
        """Read the learned statistics out of a fitted `column_transformer`."""
        parts = {name: (pipe, list(cols)) for name, pipe, cols in transformer.transformers_
                 if name in ("numeric", "categorical") and len(cols)}
        num_pipe, numeric = parts.get("numeric", (None, []))
        cat_pipe, categorical = parts.get("categorical", (None, []))
        return cls._from_pipes(num_pipe, numeric, cat_pipe, categorical, target=target,
                               classes=classes)

    @classmethod
    def _from_pipes(cls, num_pipe: Any, numeric: list[str], cat_pipe: Any,
                    categorical: list[str], *, target: str, classes: Sequence[Any]
                    ) -> Preprocessing:
        median = mean = scale = np.zeros(0)
        if num_pipe is not None:
            imputer, scaler = (step for _, step in num_pipe.steps)
            median = np.asarray(imputer.statistics_, dtype=np.float64)
            mean = np.asarray(scaler.mean_, dtype=np.float64)
            scale = np.asarray(scaler.scale_, dtype=np.float64)
        categories: tuple[tuple[str, ...], ...] = ()
        if cat_pipe is not None:
            encoder = cat_pipe.steps[-1][1]
            categories = tuple(tuple(str(c) for c in cats) for cats in encoder.categories_)
        return cls(numeric=tuple(numeric), categorical=tuple(categorical), median=median,
                   mean=mean, scale=scale, categories=categories, target=target,
                   classes=tuple(plain_label(c) for c in classes))

    # --- what the model sees -------------------------------------------------------------

    @property
    def columns(self) -> tuple[str, ...]:
        """Every input column, numeric first (the order of the output blocks)."""
        return self.numeric + self.categorical

    @property
    def n_outputs(self) -> int:
        return len(self.numeric) + sum(len(c) for c in self.categories)

    def feature_names(self) -> list[str]:
        """One name per output column: the numeric column, or "column=category"."""
        names = list(self.numeric)
        for column, cats in zip(self.categorical, self.categories, strict=True):
            names += [f"{column}={c}" for c in cats]
        return names

    def transform(self, frame: pd.DataFrame, *, rows: np.ndarray | None = None,
                  dtype: str | np.dtype = "float64", where: str = "data",
                  row_numbers: np.ndarray | None = None,
                  unseen: dict[str, int] | None = None) -> np.ndarray:
        """The model's input for the rows of ``frame`` (or those at positions ``rows``),
        without scikit-learn.

        Columns are found by name (order free, extra columns ignored); a missing one is an
        error naming it. Equal to the fitted ColumnTransformer's output (computed in
        float64, then cast to ``dtype``). A value that ``dtype`` cannot hold after scaling
        (1e40 into float32) is an error naming its column and row: ``row_numbers[i]`` is
        how the user numbers row ``i`` of ``frame`` (default ``i + 1``). ``unseen``, if
        given, receives per categorical column how many rows hold a category the
        training split never had (they encode as none of the known ones).
        """
        self.check_columns([str(c) for c in frame.columns], where)
        return self._assemble(
            len(frame) if rows is None else len(rows),
            lambda name: numeric_values(frame[name], where=f"{where}: column {name!r}"),
            lambda name, cats: self._codes(frame[name], cats),
            rows=rows, dtype=dtype, where=where, row_numbers=row_numbers, unseen=unseen)

    def transform_text(self, cells: Mapping[str, Sequence[str]], n_rows: int, *,
                       header: Sequence[str] | None = None, dtype: str | np.dtype = "float64",
                       where: str = "data", unseen: dict[str, int] | None = None
                       ) -> np.ndarray:
        """`transform` of a CSV file's columns as text (`tuner.csv_rows.read_columns`),
        typed the way pandas would type them, without pandas. ``header``: every column
        the file has (for the message about a missing one)."""
        from tuner.csv_rows import column_labels, column_numbers

        self.check_columns(list(cells) if header is None else list(header), where)

        def codes(name: str, cats: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
            index = {c: k for k, c in enumerate(cats)}
            missing_at = index.get(MISSING, -1)
            labels = column_labels(cells[name])
            out = np.fromiter((missing_at if v is None else index.get(v, -1) for v in labels),
                              dtype=np.int64, count=len(labels))
            unseen = np.fromiter((v is not None and v not in index for v in labels),
                                 dtype=bool, count=len(labels))
            return out, unseen

        return self._assemble(
            n_rows, lambda name: column_numbers(cells[name], where=f"{where}: column {name!r}"),
            codes, rows=None, dtype=dtype, where=where, row_numbers=None, unseen=unseen)

    def check_columns(self, present: Sequence[str], where: str) -> None:
        """Refuse data without one of the columns the model needs, in one line; a column
        that differs from a needed one only in case, spaces or underscores is named."""
        absent = [c for c in self.columns if c not in present]
        if not absent:
            return

        def key(name: str) -> str:
            return "".join(name.split()).replace("_", "").lower()

        near = {key(c): c for c in present if c not in self.columns}
        for name in absent:
            if key(name) in near:
                raise PreprocessError(f"{where}: no column {name!r} (did you mean "
                                      f"{near[key(name)]!r}? names must match exactly)")
        raise PreprocessError(f"{where}: no column {absent[0]!r}; the model needs "
                              f"{', '.join(self.columns)}")

    def _assemble(self, n: int, numeric_of: Callable[[str], np.ndarray],
                  codes_of: Callable[[str, tuple[str, ...]], tuple[np.ndarray, np.ndarray]], *,
                  rows: np.ndarray | None, dtype: str | np.dtype, where: str,
                  row_numbers: np.ndarray | None, unseen: dict[str, int] | None
                  ) -> np.ndarray:
        """The model's input from each numeric column's float64 values and each
        categorical column's codes (-1: none of the categories) and where they hold a
        category unseen in training."""
        out = np.zeros((n, self.n_outputs), dtype=np.dtype(dtype))
        # The numeric block column by column in a column-major buffer, then into the
        # row-major output in one pass (writing each column straight into it would sweep
        # the whole output once per column).
        block = np.empty((len(self.numeric), n), dtype=np.float64)
        for j, name in enumerate(self.numeric):
            values = numeric_of(name)
            x = block[j]
            if rows is None:
                x[:] = values
            else:
                np.take(values, rows, out=x)
            np.copyto(x, self.median[j], where=np.isnan(x))
            # Same two float64 operations as StandardScaler.transform, same bits.
            x -= self.mean[j]
            x /= self.scale[j]
        if out.dtype != np.float64 and len(block):
            big = np.abs(block) > np.finfo(out.dtype).max
            if big.any():
                j, i = (int(k) for k in np.argwhere(big)[0])
                at = i if rows is None else int(rows[i])
                row = at + 1 if row_numbers is None else int(row_numbers[at])
                raise PreprocessError(
                    f"{where}: column {self.numeric[j]!r} row {row}: the value scales to "
                    f"{block[j, i]:.3g}, beyond the model's {out.dtype} range; fix it, "
                    "drop the column, or use [model] dtype = \"float64\"")
        out[:, :len(self.numeric)] = block.T
        del block
        offset = len(self.numeric)
        for name, cats in zip(self.categorical, self.categories, strict=True):
            codes, new = codes_of(name, cats)
            if rows is not None:
                codes, new = codes[rows], new[rows]
            if unseen is not None and new.any():
                unseen[name] = int(new.sum())
            seen = np.flatnonzero(codes >= 0)
            out[seen, offset + codes[seen]] = 1.0
            offset += len(cats)
        return out

    @staticmethod
    def _codes(values: pd.Series, categories: tuple[str, ...]
               ) -> tuple[np.ndarray, np.ndarray]:
        """Index of each value in ``categories`` (-1 for a category not seen in training),
        and where a present value is such an unseen category."""
        import pandas as pd

        labels = category_labels(values)
        lookup = pd.Index(categories)
        known = lookup.get_indexer(labels.categories)  # -1: unseen in training
        missing_at = lookup.get_indexer([MISSING])[0]  # -1 if training had no gaps
        table = np.append(known, missing_at)  # code -1 (missing) reads the last entry
        codes = np.asarray(labels.codes)
        return table[codes], (codes >= 0) & (table[codes] < 0)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Class indices back to the labels the user wrote."""
        labels = np.empty(len(self.classes), dtype=object)
        labels[:] = list(self.classes)
        return labels[np.asarray(codes, dtype=np.int64)]

    # --- saved form ----------------------------------------------------------------------

    def to_arrays(self, prefix: str = "pre_") -> dict[str, np.ndarray]:
        """The float64 statistics, for `numpy.savez` beside the model's weights."""
        return {f"{prefix}median": self.median, f"{prefix}mean": self.mean,
                f"{prefix}scale": self.scale}

    def to_json(self) -> dict[str, Any]:
        """Names, order, categories and classes: plain JSON (no arrays, no pickle)."""
        return {"format": FORMAT, "target": self.target, "classes": list(self.classes),
                "numeric": list(self.numeric), "categorical": list(self.categorical),
                "categories": {c: list(cats) for c, cats in
                               zip(self.categorical, self.categories, strict=True)},
                "missing": MISSING}

    @classmethod
    def from_saved(cls, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], *,
                   prefix: str = "pre_", where: str = "model") -> Preprocessing:
        """Rebuild from `to_arrays` and `to_json` output, checking every part of it (the
        model file, `tuner.model_file`, keeps them in model.npz)."""
        try:
            if meta.get("format") != FORMAT:
                raise ValueError(f"preprocessing format {meta.get('format')!r}, "
                                 f"this tuner reads {FORMAT}")
            if meta.get("missing", MISSING) != MISSING:
                raise ValueError(f"missing-category token {meta.get('missing')!r}")
            numeric = tuple(str(c) for c in meta["numeric"])
            categorical = tuple(str(c) for c in meta["categorical"])
            categories = tuple(tuple(str(v) for v in meta["categories"][c])
                               for c in categorical)
            stats = [np.asarray(arrays[f"{prefix}{k}"], dtype=np.float64)
                     for k in ("median", "mean", "scale")]
            if any(s.shape != (len(numeric),) for s in stats):
                raise ValueError(f"statistics of shape {[s.shape for s in stats]} for "
                                 f"{len(numeric)} numeric columns")
            classes = meta["classes"]
            # Labels as a user writes them: text, whole numbers, true/false -- nothing nested.
            if not isinstance(classes, list) or not all(
                    isinstance(c, (str, int, bool)) for c in classes):
                raise ValueError("classes must be a list of text, integer or boolean labels")
            classes = tuple(classes)
            target = str(meta["target"])
        except (KeyError, TypeError, ValueError) as e:
            raise PreprocessError(f"{where}: unreadable preprocessing state ({e})") from None
        return cls(numeric=numeric, categorical=categorical, median=stats[0], mean=stats[1],
                   scale=stats[2], categories=categories, target=target, classes=classes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Preprocessing):
            return NotImplemented
        return (json.dumps(self.to_json()) == json.dumps(other.to_json())
                and all(np.array_equal(a, b) for a, b in
                        zip(self.to_arrays().values(), other.to_arrays().values(),
                            strict=True)))

    __hash__ = None  # type: ignore[assignment]  # arrays inside: not hashable


def nan_median(X: np.ndarray) -> np.ndarray:
    """Median of each column ignoring NaN, 0 for a column with no value at all: what
    SimpleImputer(strategy="median", keep_empty_features=True) learns, to the bit."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "All-NaN slice encountered"
        median = np.nanmedian(X, axis=0) if len(X) else np.full(X.shape[1], np.nan)
    return np.where(np.isnan(median), 0.0, median)


def _distinct_values(frame: pd.DataFrame, categorical: Sequence[str],
                     rows: np.ndarray | None = None) -> np.ndarray:
    """An object array with each categorical column's distinct labels (NaN once if the
    column has gaps), columns padded by repeating their first value: fitting the
    categorical imputer and one-hot encoder on it learns what fitting on every row
    would."""
    columns = []
    for name in categorical:
        labels = category_labels(frame[name])
        codes = np.asarray(labels.codes)
        if rows is not None:
            codes = codes[rows]
        present = [labels.categories[k] for k in np.unique(codes[codes >= 0])]
        columns.append(present + ([np.nan] if (codes < 0).any() else []))
    height = max(1, *(len(c) for c in columns))
    out = np.empty((height, len(columns)), dtype=object)
    for j, values in enumerate(columns):
        values = values or [np.nan]
        out[:, j] = values + [values[0]] * (height - len(values))
    return out

