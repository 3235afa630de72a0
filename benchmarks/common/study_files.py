"""Study files written by the benchmarks: the TOML text, parsed by tuner's own parser."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tuner.spec import StudySpec


# tuner's shipped search space (studies/digits-momentum.toml): the two hyperparameters
# every study tunes. alpha spans [0.01, 10]: log_scale.md found the good learning rates of
# this batch-norm model at about 0.2-5.
ALPHA_BETA = {"alpha": ("log-uniform", 1e-2, 10.0),
              "beta": ("complement-log-uniform", 0.9, 0.999)}


def fmt_range(low: float, high: float) -> str:
    """``[low, high]`` as the result files write a range: ``[0.01, 10]``, ``[1e-8, 0.1]``."""
    def one(v: float) -> str:
        return f"{v:g}".replace("e-0", "e-").replace("e+0", "e+")

    return f"[{one(low)}, {one(high)}]"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def study_toml(name: str, *, trials: int, epochs: int, dataset: str = "digits",
               data: Mapping[str, Any] | None = None, hidden: Sequence[int] = (64, 64),
               batch_size: int | None = 64, model: Mapping[str, Any] | None = None,
               search: Mapping[str, tuple[str, float, float]] = ALPHA_BETA,
               sampler: str = "random", seed: int | None = None,
               pruner: str = "none") -> str:
    """The text of a study file. ``search`` maps a hyperparameter to (prior, low, high);
    ``data`` and ``model`` add keys to those tables (e.g. ``{"use_batchnorm": False}``)."""
    model_keys = {"hidden": list(hidden), "epochs": epochs,
                  **({"batch_size": batch_size} if batch_size is not None else {}),
                  **(model or {})}
    lines = ["[study]", f"name = {_toml(name)}", f"n_trials = {trials}", "",
             "[data]", f"dataset = {_toml(dataset)}"]
    lines += [f"{k} = {_toml(v)}" for k, v in (data or {}).items()]
    lines += ["", "[model]"] + [f"{k} = {_toml(v)}" for k, v in model_keys.items()]
    lines += ["", "[search]"] + [
        f'{k} = {{ prior = "{prior}", low = {low!r}, high = {high!r} }}'
        for k, (prior, low, high) in search.items()]
    lines += ["", "[sampler]", f"name = {_toml(sampler)}"]
    if seed is not None:
        lines.append(f"seed = {seed}")
    lines += ["", "[pruner]", f"name = {_toml(pruner)}", ""]
    return "\n".join(lines)


def write_study(folder: Path, text: str, stem: str = "study") -> Path:
    """``text`` as ``folder/STEM.toml``, for the CLI."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def spec_from_toml(text: str) -> StudySpec:
    """A validated StudySpec from study-file text, through tuner's own parser."""
    from tuner.spec import load_spec

    with tempfile.TemporaryDirectory() as tmp:
        return load_spec(write_study(Path(tmp), text))
