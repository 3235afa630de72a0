"""The champion: the one trained model of a study file that an application uses.

Where it lives (`champion_path`): ``[deploy] path`` of the study file (relative to it),
else ``champions/NAME.npz`` in the artifact folder (``$TUNER_ARTIFACTS``, else beside the
SQLite file: ``tuner.db`` -> ``tuner-artifacts/champions/``). That stable file is what an
application reads, with its card (``.json``) beside it. Each promoted model is also kept
under its version and trial (``churn.v2.t17.npz``), so promoting an earlier version again
rolls back without retraining.

`promote`, under the chain's lock (`tuner.chain_lock`), in an order that a crash
(SIGKILL) at any moment leaves the previous champion whole and readable:

1. the model is trained (or taken from ``model``) and kept under its version and trial,
   flushed to disk; its card must name the version and trial it claims, and that
   version's data fingerprint and definition;
2. the promotion is written down as pending (``tuner:champion_pending``);
3. the stable ``.npz`` is replaced (temporary name, fsync, rename), then its card;
4. the promotion is recorded as a history row (`tuner.history`): the commit point;
5. the pending mark is removed.

A promotion cut short is finished by the next `promote` (under the lock) when the stable
file already holds its model, and dropped otherwise, the stable card put back beside the
model it describes. `current_champion` reads the last recorded promotion, or the pending
one when the stable file already holds it: it always names the model the stable file
holds.

``TUNER_TEST_HOLD_PROMOTE=<step>`` (tests only) stops `promote` at a step (``trained``,
``pending``, ``npz``, ``card``, ``recorded``) with a line on stderr, so a test can kill it
there.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner import keys
from tuner.deploy import (
    PromoteError,
    champion_file,
    champion_path,
    check_claim,
    check_writable,
    kept_path,
    read_card,
    sha256,
)
from tuner.history import PROMOTION

if TYPE_CHECKING:
    from tuner.spec import StudySpec
    from tuner.versions import Version

__all__ = ["Champion", "PromoteError", "chain_champion", "champion_file", "champion_path",
           "current_champion", "keep_model", "kept_path", "promote", "promote_file"]

HOLD_ENV = "TUNER_TEST_HOLD_PROMOTE"
PROMOTED, ROLLED_BACK = "promoted", "rolled back"


@dataclass(frozen=True)
class Champion:
    """The model in use, as recorded when it was promoted."""

    family: str            # the chain: the study file's [study] name
    study: str             # the version's Optuna study name, e.g. "churn/v2"
    version: int
    trial: int
    metric: str
    score: float           # its score on the test split when it was trained
    test_rows: int
    data_fingerprint: str  # the data its version was tuned and it was trained on
    spec_hash: str         # the definition of its version
    promoted_at: str       # ISO 8601, UTC
    reason: str
    model_path: Path       # the stable file an application reads; its card beside it
    model_sha256: str = ""
    kept_path: Path | None = None  # this model under its version and trial (roll-back)
    direction: str = "maximize"    # of ``metric``: whether a higher score is better

    @property
    def card_path(self) -> Path:
        return self.model_path.with_suffix(".json")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model_path"] = str(self.model_path)
        d["kept_path"] = None if self.kept_path is None else str(self.kept_path)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Champion:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        values["model_path"] = Path(values["model_path"])
        if values.get("kept_path") is not None:
            values["kept_path"] = Path(values["kept_path"])
        return cls(**values)

    def file_problem(self) -> str | None:
        """What is wrong with the stable file, for people (None: it holds this model):
        it is missing, or someone replaced it by hand."""
        digest = sha256(self.model_path)
        if digest is None:
            return f"{self.model_path} is missing: `tuner promote` writes it again"
        if digest != self.model_sha256:
            return (f"{self.model_path} is not this champion's model (its sha256 differs): "
                    "it was replaced by hand; `tuner promote` writes it again")
        return None

    def summary(self) -> str:
        what = self.metric.removeprefix("val_")
        return (f"{self.study} trial {self.trial}: test {what} {self.score:.4f} on "
                f"{self.test_rows} held-out rows; data {self.data_fingerprint[:12]}; promoted "
                f"{self.promoted_at} ({self.reason})")


# --- reading -----------------------------------------------------------------------------

def _last_promotion(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The champion's record of the newest row that promoted one: a row whose
    `PROMOTION` field holds it (whatever its ``decision`` says)."""
    return next((r[PROMOTION] for r in reversed(rows) if isinstance(r.get(PROMOTION), dict)),
                None)


def _pending(storage: Any, family: str) -> dict[str, Any] | None:
    try:
        attrs = storage.get_study_user_attrs(storage.get_study_id_from_name(family))
    except KeyError:
        return None
    pending = attrs.get(keys.CHAMPION_PENDING)
    return pending if isinstance(pending, dict) and "champion" in pending else None


def _unrecorded(recorded: dict[str, Any] | None, candidate: dict[str, Any]) -> bool:
    """Whether the pending promotion ``candidate`` is not the last one recorded."""
    def key(d: dict[str, Any]) -> tuple[Any, Any]:
        return d.get("promoted_at"), d.get("model_sha256")

    return recorded is None or key(recorded) != key(candidate)


def _read(storage: Any, family: str) -> Champion | None:
    from tuner import history

    recorded = _last_promotion(history.read(storage, family))
    pending = _pending(storage, family)
    if pending is not None:
        candidate = pending["champion"]
        if _unrecorded(recorded, candidate) and \
                sha256(Path(candidate["model_path"])) == candidate["model_sha256"]:
            return Champion.from_dict(candidate)  # cut short after the stable file moved
    return None if recorded is None else Champion.from_dict(recorded)


def chain_champion(storage: Any, family: str) -> Champion | None:
    """The champion of chain ``family`` in an open storage (`current_champion` without a
    study file: `tuner study show`, the report)."""
    return _read(storage, family)


def current_champion(file_or_spec: str | Path | StudySpec, storage: Any = None
                     ) -> Champion | None:
    """The champion of a study file (a path or its `StudySpec`), or None when it has none
    (no promotion yet, or no storage yet). ``storage``: a URL, an open storage, or None
    (resolved as every command does)."""
    door = _door(file_or_spec, storage, create=False)
    try:
        from tuner.storage import NoDatabase

        try:
            st = door.storage
        except NoDatabase:
            return None
        return _read(st, door.spec.name)
    finally:
        door.close()


def _door(file_or_spec: Any, storage: Any, *, create: bool, on_url: Any = None) -> Any:
    from tuner.spec import StudySpec
    from tuner.study_file import StudyFile, open_study_file

    if isinstance(file_or_spec, StudySpec):
        return StudyFile(file_or_spec.path, file_or_spec, storage, read_only=False,
                         create=create, on_url=on_url)
    return open_study_file(file_or_spec, storage, create=create, on_url=on_url)


# --- promoting ---------------------------------------------------------------------------

def _hold(step: str) -> None:
    """Tests only: stop here, forever, when ``TUNER_TEST_HOLD_PROMOTE`` names ``step``."""
    if os.environ.get(HOLD_ENV) == step:
        print(f"holding at {step}", file=sys.stderr, flush=True)
        while True:
            time.sleep(60)


def _version(storage: Any, spec: StudySpec, version: int | None) -> Version:
    from tuner.versions import chain

    versions = chain(storage, spec.name)
    if not versions:
        raise PromoteError(f"{spec.path}: nothing to promote yet: no study {spec.name!r} in "
                           f"this storage; run `tuner study run {spec.path}` first")
    if version is None:
        return versions[-1]
    by_number = {v.version: v for v in versions}
    if version not in by_number:
        known = ", ".join(f"v{v.version}" for v in versions)
        raise PromoteError(f"{spec.name} has no version v{version}; it has {known}")
    return by_number[version]


def _promoted_trial(st: Any, family: str, chosen: Version, stable: Path) -> int | None:
    """The trial of ``chosen`` that was champion last, if its model is still kept: what
    `--version vN` without `--trial` rolls back to."""
    from tuner import history

    for row in reversed(history.read(st, family)):
        record = row.get(PROMOTION)
        if isinstance(record, dict) and record.get("study") == chosen.name:
            number = record.get("trial")
            if isinstance(number, int) and kept_path(stable, chosen.version, number).exists():
                return number
    return None


def _model_source(st: Any, spec: StudySpec, file: Any, chosen: Version, stable: Path,
                  trial: int | None, model: Path | None, *, rollback: bool = False
                  ) -> tuple[Path, int]:
    """The model to promote and its trial, before the lock: ``model`` as given (checked),
    the kept model of a trial promoted before (``rollback``: with no ``trial``, the one
    of the version that was champion last), or the trial trained now into a file of this
    process's own (two processes training one trial never write the same file)."""
    from tuner import model_file
    from tuner.train import select_best, train_best

    if model is not None:
        model = Path(model)
        number = check_claim(model, read_card(model), chosen, trial)
        model_file.load(model, estimator=False)  # a damaged file is refused here
        return model, number
    if trial is None and rollback:
        trial = _promoted_trial(st, spec.name, chosen, stable)
    _, _, best = select_best(st, spec, str(chosen.version), file=file, trial=trial)
    kept = kept_path(stable, chosen.version, best.number)
    if kept.exists():
        # Promoted before (a roll-back): the kept model, if it is still the one it claims.
        try:
            check_claim(kept, read_card(kept), chosen, best.number)
            return kept, best.number
        except PromoteError:
            pass  # damaged or foreign: trained again below, and kept over it
    staging = kept.with_name(f".{kept.stem}.{os.getpid()}{kept.suffix}")
    train_best(st, spec, output=staging, version=str(chosen.version), file=file,
               trial=best.number)
    return staging, best.number


def keep_model(source: Path, chosen: Version, stable: Path, number: int) -> tuple[Path, dict]:
    """Under the lock: ``source`` kept under its version and trial (flushed to disk, its
    card first), checked once more; a staging file of ours is then removed."""
    from tuner import model_file
    from tuner.files import durable_copy, durable_write, same_file

    kept = kept_path(stable, chosen.version, number)
    staging = source.name.startswith(f".{kept.stem}.{os.getpid()}")
    if staging and kept.exists():
        try:  # another process kept this trial while we trained it: theirs stays
            check_claim(kept, read_card(kept), chosen, number)
        except PromoteError:
            pass
        else:
            source = kept
    if not same_file(source, kept):
        card = {**read_card(source), "model_file": kept.name}  # the card names its model
        durable_write(model_file.card_path(kept), json.dumps(card, indent=2) + "\n")
        durable_copy(source, kept)
    if staging:
        staged = kept.with_name(f".{kept.stem}.{os.getpid()}{kept.suffix}")
        for path in (staged, model_file.card_path(staged)):
            path.unlink(missing_ok=True)
    card = read_card(kept)
    check_claim(kept, card, chosen, number)
    return kept, card


def _install(kept: Path, stable: Path) -> None:
    """The kept model becomes the stable file: the model first, then its card."""
    from tuner import model_file
    from tuner.files import durable_copy

    durable_copy(kept, stable)
    _hold("npz")
    durable_copy(model_file.card_path(kept), model_file.card_path(stable))


def _recover(st: Any, family: str, stable: Path) -> None:
    """Finish or drop a promotion cut short (under the lock): finished when the stable
    file holds its model, dropped otherwise; the stable card is put back beside the
    model it describes."""
    from tuner import history, model_file
    from tuner.files import durable_copy

    pending = _pending(st, family)
    if pending is None:
        return
    candidate = pending["champion"]
    recorded = _last_promotion(history.read(st, family))
    on_disk = sha256(stable)
    if on_disk == candidate["model_sha256"]:
        if _unrecorded(recorded, candidate):
            history.record(st, family, {**pending["row"], "recovered": True})
        durable_copy(model_file.card_path(Path(candidate["kept_path"])),
                     model_file.card_path(stable))
    elif recorded is not None and recorded.get("kept_path") and \
            Path(recorded["kept_path"]).exists():
        durable_copy(model_file.card_path(Path(recorded["kept_path"])),
                     model_file.card_path(stable))
    st.set_study_user_attr(st.get_study_id_from_name(family), keys.CHAMPION_PENDING, None)


def promote(file: str | Path | StudySpec, *, version: int | None = None, trial: int | None = None,
            storage: Any = None, model: Path | None = None, reason: str = "promoted by hand",
            decision: dict[str, Any] | None = None, on_url: Any = None) -> Champion:
    """Make a trained model the champion of the study file ``file`` (a path or its
    `StudySpec`).

    Holds the chain's lock (`tuner.chain_lock.chain_lock(storage, NAME)`) from keeping
    the model to recording the promotion; the lock is re-entrant, so a caller that
    decides (challenger against champion) and then promotes holds it around both.

    Args:
        version: the version (1, 2, ...); default the newest.
        trial: its trial; default its best complete trial, or, when ``version`` is
            given, the trial of it that was champion last (a roll-back), if still kept.
        storage: a URL, an open storage, or None (resolved as every command does).
        model: a model `tuner train` wrote (its card beside it) for that version and
            trial; None trains it (`tuner.train.train_best`) unless it was promoted
            before and is still kept.
        reason: why, for people (the history and `tuner champion` show it).
        decision: more fields for the history row this promotion records (scores,
            drift, ...: `tuner.history`).

    Returns:
        The new champion (the same one, unchanged, when it already is the champion).

    Raises:
        PromoteError: the folder cannot be written, no such version or trial, or a model
            that is not the version's (other data, another definition).
    """
    return _promote(file, version=version, trial=trial, storage=storage, model=model,
                    reason=reason, decision=decision, on_url=on_url)[0]


def _promote(file: str | Path | StudySpec, *, version: int | None, trial: int | None, storage: Any,
             model: Path | None, reason: str, decision: dict[str, Any] | None,
             on_url: Any) -> tuple[Champion, bool]:
    """`promote`, and whether it changed the champion."""
    from tuner import history
    from tuner.chain_lock import chain_lock

    door = _door(file, storage, create=False, on_url=on_url)
    try:
        spec = door.spec
        stable = champion_path(spec, door.url if door.url is not None else door.storage.url)
        st = door.storage
        chosen = _version(st, spec, version)
        check_writable(stable, spec)  # before training; after the refusals that write nothing
        source, number = _model_source(st, spec, door.file, chosen, stable, trial, model,
                                       rollback=version is not None)
        _hold("trained")
        with chain_lock(st, spec.name):
            kept, card = keep_model(source, chosen, stable, number)
            _recover(st, spec.name, stable)
            previous = _read(st, spec.name)
            sha = card["model_sha256"]
            if previous is not None and previous.model_sha256 == sha and \
                    sha256(stable) == sha:
                return previous, False
            new = Champion(
                family=spec.name, study=chosen.name, version=chosen.version,
                trial=int(card["trial"]), metric=card["metric"],
                score=float(card["test_score"]), test_rows=int(card["data"]["test_rows"]),
                data_fingerprint=card["fingerprints"]["data"],
                spec_hash=card["fingerprints"]["definition"],
                promoted_at=datetime.now(UTC).isoformat(timespec="seconds"), reason=reason,
                model_path=stable, model_sha256=sha, kept_path=kept,
                direction=str(card.get("direction", "maximize")))
            back = previous is not None and new.version < previous.version
            row = {"decision": ROLLED_BACK if back else PROMOTED, "version": new.study,
                   "trial": new.trial, "data_fingerprint": new.data_fingerprint,
                   "rows": card["data"].get("trained_rows", 0) + new.test_rows,
                   "champion_score": new.score, "reason": reason,
                   "previous": None if previous is None else
                   {"study": previous.study, "trial": previous.trial,
                    "score": previous.score},
                   **(decision or {}), PROMOTION: new.as_dict()}
            study_id = st.get_study_id_from_name(spec.name)
            st.set_study_user_attr(study_id, keys.CHAMPION_PENDING,
                                   {"champion": new.as_dict(), "row": row})
            _hold("pending")
            _install(kept, stable)
            _hold("card")
            history.record(st, spec.name, row)
            _hold("recorded")
            st.set_study_user_attr(study_id, keys.CHAMPION_PENDING, None)
            return new, True
    finally:
        door.close()


def promote_file(file: str | Path, storage: str | None = None, *, version: str | None = None,
                 trial: int | None = None, on_url: Any = None) -> tuple[Champion, bool]:
    """`tuner promote FILE [--version vN] [--trial N]`: ``version`` as a user types it
    (``v2``, ``2``, ``NAME/v2``). Returns the champion and whether it changed."""
    from tuner.spec import load_spec
    from tuner.versions import parse_version_arg

    number = None
    if version is not None:
        spec = load_spec(file)
        number = parse_version_arg(spec.name, version)
        if number is None:
            raise PromoteError(f"--version {version!r}: expected v1, v2, ... (or "
                               f"{spec.name}/v2)")
    before = current_champion(file, storage)
    reason = "promoted by hand" if version is None or before is None or \
        number >= before.version else f"rolled back by hand from {before.study}"
    return _promote(file, version=number, trial=trial, storage=storage, model=None,
                    reason=reason, decision=None, on_url=on_url)
