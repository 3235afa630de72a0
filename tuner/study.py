"""Reading studies for people: what `tuner study list|show|best` and the run summary say.

Each function reads one study (or the storage's list of them) and returns plain data --
counts by kind, the best trial in course notation, the version chain and its
fingerprints -- or the one summary line a run ends with. The CLI only prints them.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial

from tuner import history, keys
from tuner.champion import chain_champion
from tuner.errors import TunerError
from tuner.space import to_course
from tuner.versions import chain, complete_trials, count_trials, split_version

__all__ = ["best_text", "best_text_lines", "best_trial", "counts", "format_params",
           "format_value", "importance_table", "list_studies", "show_study", "show_text",
           "study_table", "summary_line", "trial_dict"]


SHOWN_HISTORY = 5  # `study show`: the newest rows of the chain's history (`tuner history`: all)


def counts(study: optuna.Study) -> dict[str, int]:
    """Trials by kind: complete, pruned, diverged, failed, running, waiting."""
    return count_trials(study.get_trials(deepcopy=False))


def format_value(v: Any) -> str:
    """A parameter value as a person reads it: 4 significant digits, layers as 64x64."""
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, tuple):
        return "x".join(map(str, v))
    return str(v)


def format_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={format_value(v)}" for k, v in params.items())


def best_text(study: optuna.Study) -> str:
    """For a progress bar: the best value so far."""
    if not complete_trials(study):
        return "no complete trial yet"
    return f"best {study.best_value:.4f}"


def summary_line(study: optuna.Study, metric: str) -> str:
    """How a run left the version: finished trials by kind, failures, the best trial."""
    c = counts(study)
    finished = c["complete"] + c["pruned"] + c["diverged"]
    parts = [f"{finished} trials finished ({c['complete']} complete, {c['pruned']} pruned, "
             f"{c['diverged']} diverged)"]
    if c["failed"]:
        parts.append(f"{c['failed']} failed and re-queued")
    if c["complete"]:
        best = study.best_trial
        parts.append(f"best {metric} {best.value:.4f} (trial {best.number}: "
                     f"{format_params(to_course(best.params))})")
    return "; ".join(parts)


def trial_dict(trial: FrozenTrial) -> dict[str, Any]:
    return {"number": trial.number, "state": trial.state.name, "value": trial.value,
            "params": to_course(trial.params), "optuna_params": trial.params,
            "user_attrs": trial.user_attrs}


def list_studies(storage: BaseStorage) -> list[dict[str, Any]]:
    """Every study in the storage, by name: version, direction, trials, best, reason."""
    rows = []
    for s in sorted(optuna.get_all_study_summaries(storage, include_best_trial=True),
                    key=lambda s: s.study_name):
        rows.append({"name": s.study_name, "version": s.user_attrs.get(keys.VERSION),
                     "direction": s.direction.name.lower(), "n_trials": s.n_trials,
                     "best_value": s.best_trial.value if s.best_trial else None,
                     "reason": s.user_attrs.get(keys.REASON)})
    return rows


def show_study(storage: BaseStorage, study: optuna.Study) -> dict[str, Any]:
    """Counts, best trial, version chain and fingerprints of one version."""
    attrs = study.user_attrs
    c = counts(study)
    best = trial_dict(study.best_trial) if c["complete"] else None
    family = split_version(study.study_name)[0]
    tuned = keys.VERSION in attrs
    versions = [v.name for v in chain(storage, family)] if tuned else []
    rows = history.read(storage, family) if tuned else []
    champion = chain_champion(storage, family) if tuned else None
    return {"study": study.study_name, "direction": study.direction.name.lower(),
            "counts": c, "best": best, "versions": versions,
            "champion": None if champion is None else champion.as_dict(),
            "history": rows[-SHOWN_HISTORY:], "history_count": len(rows),
            **{key: attrs.get(attr) for key, attr in keys.ATTR.items()},
            "n_trials": attrs.get(keys.N_TRIALS),
            "fingerprint_components": attrs.get(keys.FINGERPRINTS)}


def best_trial(study: optuna.Study) -> dict[str, Any]:
    """The best trial of ``study`` in course notation; an error if there is none yet."""
    if not complete_trials(study):
        raise TunerError(f"study {study.study_name!r} has no complete trial yet")
    return {"study": study.study_name, **trial_dict(study.best_trial)}


def study_table(rows: list[dict[str, Any]]) -> str:
    """`list_studies` as an aligned table."""
    width = max(len("STUDY"), *(len(r["name"]) for r in rows))
    lines = [f"{'STUDY':<{width}}  VERSION  TRIALS  BEST      DIRECTION"]
    for r in rows:
        best = "-" if r["best_value"] is None else f"{r['best_value']:.4f}"
        version = "-" if r["version"] is None else str(r["version"])
        lines.append(f"{r['name']:<{width}}  {version:<7}  {r['n_trials']:<6}  {best:<8}  "
                     f"{r['direction']}")
    return "\n".join(lines)


def show_text(report: dict[str, Any]) -> str:
    """`show_study` for people."""
    components_all = report.get("fingerprint_components") or {}
    # A version made before tasks existed is a classification.
    task = components_all.get("task", "classification") if components_all else None
    lines = [f"study      {report['study']} ({report['direction']})"]
    if task is not None:
        lines.append(f"task       {task}")
    if report["versions"]:
        lines.append(f"versions   {' -> '.join(report['versions'])}")
    lines.append("trials     " + ", ".join(f"{v} {k}" for k, v in report["counts"].items()))
    best = report["best"]
    if best:
        folds = best["user_attrs"].get(keys.FOLD_VALUES)
        mean_of = f" (mean of {len(folds)} folds)" if folds else ""  # [data] folds
        lines.append(f"best       trial {best['number']}: value {best['value']:.4f}{mean_of}; "
                     f"{format_params(best['params'])}")
    else:
        lines.append("best       no complete trial yet")
    if report["data"]:
        from tuner.fingerprint import counts_text, rows_text

        components = (report.get("fingerprint_components") or {}).get("data")
        hashed = rows_text(components)
        lines += [f"data       {report['data'][:12]}" + (f"  ({hashed})" if hashed else "")]
        if (components or {}).get("class_counts"):  # classes by split (classification)
            lines.append(f"classes    {counts_text(components['class_counts'])}")
        elif (components or {}).get("split_rows"):  # rows by split (regression)
            lines.append(f"rows       {counts_text(components['split_rows'])}")
        lines += [f"hardware   {report['hardware'][:12]}",
                  f"definition {report['definition'][:12]}",
                  f"reason     {report['reason']}"]
    champion = report.get("champion")
    if champion:
        lines.append(f"champion   {champion['study']} trial {champion['trial']}: test "
                     f"{champion['metric'].removeprefix('val_')} {champion['score']:.4f}, "
                     f"promoted {champion['promoted_at']} ({champion['reason']})")
    if report.get("history"):
        shown, total = report["history"], report["history_count"]
        lines.append(f"history    {total} decision{'s' if total != 1 else ''}"
                     + (f", the {len(shown)} newest:" if total > len(shown) else ":"))
        lines += ["  " + line for line in history.history_text(shown).splitlines()]
    return "\n".join(lines)


def best_text_lines(best: dict[str, Any]) -> str:
    """`best_trial` for people: the value, then one parameter a line."""
    lines = [f"{best['study']}: trial {best['number']}, value {best['value']:.6g}"]
    lines += [f"  {k} = {format_value(v)}" for k, v in best["params"].items()]
    return "\n".join(lines)


def importance_table(rows: list[tuple[str, str, float]]) -> str:
    """Parameter importances as an aligned table with a bar each."""
    width = max(len("PARAMETER"), *(len(label) for _, label, _ in rows))
    lines = [f"{'PARAMETER':<{width}}  IMPORTANCE"]
    lines += [f"{label:<{width}}  {value:>10.3f}  {'#' * round(value * 30)}"
              for _, label, value in rows]
    return "\n".join(lines)
