"""What the machine and the databases can hold, checked before anything is written:
seeds in numpy's range, names every database stores, split sizes scikit-learn can
stratify, and datasets and models that fit in memory (refused with the estimate)."""

from __future__ import annotations

import math
import unicodedata
from typing import TYPE_CHECKING

from tuner import machine
from tuner.data import SYNTHETIC_DEFAULTS
from tuner.footprint import trial_footprint
from tuner.spec.schema import DataSpec, ModelSpec, ParamSpec

if TYPE_CHECKING:
    from tuner.spec.reader import Reader


# numpy's legacy seeding (and so scikit-learn's random_state and Optuna's samplers) takes
# 0 .. 2**32 - 1; anything else crashes after the study exists.
SEED_MAX = 2**32 - 1
# Optuna stores a study name in a VARCHAR(512) on PostgreSQL and MySQL; tuner appends
# "/vN" for later versions, so room is kept for "/v999999".
NAME_MAX = 512 - len("/v999999")
# Runs that are certainly a typo rather than a plan: a billion-epoch trial never ends.
EPOCHS_MAX = 100_000
# A million trials is more than an RDB storage serves at a usable speed (every trial is
# rows in five tables); beyond it, a study is a typo (1e26 would never finish).
N_TRIALS_MAX = 1_000_000
# A layer of 16384 units is already 1 GiB of float32 weights from the layer before it (and
# four copies while training); wider is a typo that would exhaust memory in the first trial.
UNITS_MAX = 16_384
# Code points a name must not hold: control characters (NUL included: PostgreSQL refuses
# it) and the bidirectional overrides and isolates that make a name print as another.
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F,
                          0x061C)}
# (samples, features, classes, smallest class) of the bundled datasets, so splits and
# memory are checked without loading scikit-learn.
DATASET_SHAPES: dict[str, tuple[int, int, int, int]] = {
    "digits": (1797, 64, 10, 174), "breast_cancer": (569, 30, 2, 212),
    "wine": (178, 13, 3, 48), "iris": (150, 4, 3, 50),
    # Regression: one output, no classes to stratify (the "smallest class" is every row).
    "diabetes": (442, 10, 1, 442), "friedman1": (2000, 10, 1, 2000),
}


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**28 else f"{n / 2**20:.0f} MiB"


# --- parsing --------------------------------------------------------------------------


def _check_name(r: Reader, name: str) -> None:
    """A study name every supported database stores as it is."""
    if len(name) > NAME_MAX:
        raise r.fail("[study] name", f"is {len(name)} characters; at most {NAME_MAX} (the "
                     "databases store 512, and later versions add '/vN')")
    bad = next((c for c in name if unicodedata.category(c) == "Cc" or c in _BIDI), None)
    if bad is not None:
        raise r.fail("[study] name", f"must not contain control or bidirectional-override "
                     f"characters (found U+{ord(bad):04X})")


def _check_seed(r: Reader, where: str, value: int) -> int:
    if not 0 <= value <= SEED_MAX:
        raise r.fail(where, f"must be between 0 and {SEED_MAX} (2**32 - 1), got {value}")
    return value


def _dataset_shape(data: DataSpec) -> tuple[int, int, int, int]:
    if data.dataset in DATASET_SHAPES:
        return DATASET_SHAPES[data.dataset]
    p = {**SYNTHETIC_DEFAULTS, **dict(data.params)}
    # make_classification balances the classes, then flips 1% of the labels at random.
    smallest = int(0.9 * p["n_samples"] // p["n_classes"])
    return p["n_samples"], p["n_features"], p["n_classes"], smallest


def _check_splits(r: Reader, data: DataSpec) -> None:
    """What scikit-learn's stratified splits need, checked here so the error names the
    key: every split holds at least one sample per class, and every class keeps two
    samples in what is split again."""
    n, _, classes, smallest = _dataset_shape(data)
    n_test = math.ceil(data.test_fraction * n)
    rest = n - n_test
    n_val = math.ceil(data.validation_fraction * rest)
    train = rest - n_val
    for key, count in (("test_fraction", n_test), ("test_fraction", rest),
                       ("validation_fraction", n_val), ("validation_fraction", train)):
        if count < classes:
            raise r.fail(f"[data] {key}", f"test_fraction={data.test_fraction} and "
                         f"validation_fraction={data.validation_fraction} split {data.dataset}'s "
                         f"{n} samples into {train} train, {n_val} validation and {n_test} "
                         f"test: each needs at least {classes} (one per class)")
    if math.floor(smallest * (1 - data.test_fraction)) < 2:
        raise r.fail("[data] test_fraction", f"{data.test_fraction} leaves fewer than 2 "
                     f"samples of {data.dataset}'s smallest class ({smallest}) to split "
                     "into train and validation")


def _check_memory(r: Reader, data: DataSpec, model: ModelSpec,
                  search: tuple[ParamSpec, ...]) -> None:
    """Refuse a dataset or model that cannot fit in this machine's memory, with the
    estimate: the largest the search can ask for, not the typical case."""
    n, features, classes, _ = _dataset_shape(data)
    trial = trial_footprint(model, search, n_samples=n, n_features=features,
                            n_classes=classes, folds=data.folds)
    data_bytes, model_bytes = trial.data_bytes, trial.model_bytes
    total, memory = trial.total_bytes, machine.total_memory()
    if total > memory:
        key = "[data] n_samples" if data_bytes > model_bytes and data.dataset == "synthetic" \
            else trial.widest_key
        raise r.fail(key, f"needs about {_gib(total)} of memory (data {_gib(data_bytes)}, "
                     f"model {_gib(model_bytes)}); this machine has {_gib(memory)}")

