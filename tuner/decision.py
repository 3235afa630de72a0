"""Decide, then re-tune: whether new data is worth a new version, and whether a challenger
replaces the champion.

Before a re-tune (`tuner.retune`, so each `tuner schedule` tick), when only the data
moved and the study file has a champion, `assess`:

- re-scores the champion on today's test split (the hash holdout of `tuner.holdout`:
  the rows it was scored on before are still there, in the same split);
- measures drift (`tuner.drift`) between the rows it was trained on (the profile in its
  card) and today's training rows, the label included;
- and applies the study file's policy (`should_retune`, `[retune] when`).

After a version finishes, `challenge` trains its best trial (the challenger), scores
challenger and champion on the same test rows (`tuner.compare`) and promotes the
challenger only if it wins by at least `[retune] min_gain`; a challenger that loses is
kept beside the champion and recorded ("refused"), never promoted.

Every decision is one history row (`tuner.history`), made under the chain's lock
(`tuner.chain_lock`), so two schedulers ticking at once make it once.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner import compare, drift, keys
from tuner.compare import Rows
from tuner.errors import TunerError, first_line
from tuner.metrics import DIRECTIONS

if TYPE_CHECKING:
    from tuner.champion import Champion
    from tuner.spec import RetuneSpec, StudySpec
    from tuner.splits import Splits
    from tuner.versions import Version

__all__ = ["Assessment", "Challenge", "assess", "challenge", "challenged", "decided",
           "should_retune"]

HOLDS, RETUNE, PROMOTED, REFUSED = "holds", "re-tune", "promoted", "refused"


def should_retune(policy: RetuneSpec, *, degraded: bool, drifted: bool | None) -> bool:
    """The policy table. ``drifted`` None: drift could not be measured (a champion trained
    before cards kept a profile), which counts as drifted: re-tuning is the safe side."""
    moved = drifted is not False
    return {"changed": True, "degraded": degraded, "drifted": moved,
            "degraded-or-drifted": degraded or moved}[policy.when]


# --- before a re-tune ----------------------------------------------------------------------

def _sign(metric: str) -> float:
    return 1.0 if DIRECTIONS[metric] == "maximize" else -1.0


@dataclass
class Assessment:
    """The champion on today's data, and what the policy makes of it."""

    champion: str                 # e.g. "churn/v2 trial 7"
    metric: str
    score_now: float | None       # None: it cannot score today's rows (``unscorable``)
    score_then: float
    test_rows: int
    rows_now: int
    rows_then: int
    drift: dict[str, float] = field(default_factory=dict)
    drift_known: bool = True
    degraded: bool = False
    drifted: bool | None = False
    retune: bool = True
    policy: str = ""
    threshold: float = 0.2
    margin: float = 0.01
    unscorable: str | None = None  # why the champion cannot score today's rows

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self, name: str) -> str:
        """e.g. "churn: data changed (+120 rows); champion churn/v2 trial 7 holds: ..."."""
        what = self.metric.removeprefix("val_")
        delta = self.rows_now - self.rows_then
        head = f"{name}: data changed ({delta:+,} rows)" if delta else f"{name}: data changed"
        if self.score_now is None:
            return (f"{head}; champion {self.champion} cannot score today's rows "
                    f"({self.unscorable}): re-tuning")
        verdict = "no longer holds" if self.retune else "holds"
        text = (f"{head}; champion {self.champion} {verdict}: {what} {self.score_now:.4f} on "
                f"{self.test_rows:,} held-out rows (was {self.score_then:.4f}")
        text += f", tolerated drop {self.margin:g})" if self.degraded else ")"
        top = drift.largest(self.drift)
        if not self.drift_known:
            text += "; drift unknown (its card has no profile of its training rows)"
        elif top is not None:
            sign = ">" if top[1] > self.threshold else "<="
            text += f", largest drift {top[0]} PSI {top[1]:.3f} {sign} {self.threshold:g}"
        if self.retune:
            text += f"; policy {self.policy!r}: re-tuning"
        return text


def assess(spec: StudySpec, champion: Champion, rows: Rows) -> Assessment:
    """Re-score ``champion`` on today's test rows and measure drift (see the module)."""
    from tuner.deploy import read_card

    model = _champion_model(champion)
    y = rows.truth()
    try:
        card = read_card(model)
        out = rows.outputs(model)
    except TunerError as e:  # e.g. a column it reads is gone: the loop must not stall
        return Assessment(
            champion=f"{champion.study} trial {champion.trial}", metric=champion.metric,
            score_now=None, score_then=champion.score, test_rows=len(y), rows_now=rows.count,
            rows_then=0, drift_known=False, drifted=None, retune=True,
            policy=spec.retune.when, threshold=spec.retune.drift, margin=spec.retune.margin,
            unscorable=first_line(str(e)))
    score_now = compare.scores(y, out, [champion.metric])[champion.metric]
    drop = _sign(champion.metric) * (champion.score - score_now)
    profile = card.get("drift_profile")
    measured = drift.psi(profile, rows.training) if isinstance(profile, dict) else {}
    top = drift.largest(measured)
    drifted = None if not isinstance(profile, dict) else \
        (top is not None and top[1] > spec.retune.drift)
    degraded = drop > spec.retune.margin
    data = card.get("data", {})
    return Assessment(
        champion=f"{champion.study} trial {champion.trial}", metric=champion.metric,
        score_now=float(score_now), score_then=champion.score, test_rows=len(y),
        rows_now=rows.count,
        rows_then=int(data.get("trained_rows", 0)) + int(data.get("test_rows", 0)),
        drift={k: round(v, 6) for k, v in measured.items()},
        drift_known=isinstance(profile, dict), degraded=degraded, drifted=drifted,
        retune=should_retune(spec.retune, degraded=degraded, drifted=drifted),
        policy=spec.retune.when, threshold=spec.retune.drift, margin=spec.retune.margin)


def _champion_model(champion: Champion) -> Path:
    """The champion's model file: the stable one, or its kept copy if the stable file
    was replaced by hand."""
    if champion.file_problem() is None or champion.kept_path is None:
        return champion.model_path
    return champion.kept_path


def decided(history_rows: list[dict[str, Any]], *, data: str, champion: Champion
            ) -> dict[str, Any] | None:
    """The decision already recorded about ``champion`` on data ``data`` (a tick that
    comes after another on the same data makes none of its own), or None."""
    ident = f"{champion.study} trial {champion.trial}"
    for row in reversed(history_rows):
        if row.get("decision") in (HOLDS, RETUNE) and row.get("data_fingerprint") == data \
                and row.get("champion") == ident:
            return row
    return None


# --- after a version finished --------------------------------------------------------------

@dataclass
class Challenge:
    """What became of a finished version's best trial."""

    version: str
    trial: int
    decision: str                       # PROMOTED | REFUSED
    score: float                        # the challenger's, on today's test rows
    champion_score: float | None = None
    comparison: dict[str, Any] | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _challenger(st: Any, spec: StudySpec, chosen: Version, stable: Path, splits: Splits,
                file: Any) -> tuple[Path, int]:
    """The best trial of ``chosen`` trained (or its kept model, trained before)."""
    from tuner.deploy import PromoteError, check_claim, kept_path, read_card
    from tuner.train import select_best, train_best

    _, _, best = select_best(st, spec, str(chosen.version), file=file)
    kept = kept_path(stable, chosen.version, best.number)
    if kept.exists():
        try:
            check_claim(kept, read_card(kept), chosen, best.number)
            return kept, best.number
        except PromoteError:
            pass  # damaged: trained again
    staging = kept.with_name(f".{kept.stem}.{os.getpid()}{kept.suffix}")
    train_best(st, spec, output=staging, version=str(chosen.version), splits=splits,
               file=file, trial=best.number)
    return staging, best.number


def challenge(st: Any, spec: StudySpec, chosen: Version, splits: Splits, rows: Rows, *,
              file: Any = None) -> Challenge | None:
    """Train the best trial of the finished version ``chosen`` and promote it if it beats
    the champion on today's test rows (the first champion when there is none). None when
    the version was decided on before (by an earlier tick, or another process)."""
    from tuner import champion as champions
    from tuner import history
    from tuner.chain_lock import chain_lock
    from tuner.deploy import champion_path, check_writable

    if challenged(history.read(st, spec.name), chosen.name):
        return None
    stable = champion_path(spec, st.url)
    check_writable(stable, spec)
    model, number = _challenger(st, spec, chosen, stable, splits, file)
    with chain_lock(st, spec.name):
        rows_log = history.read(st, spec.name)
        if challenged(rows_log, chosen.name):
            _drop_staging(model, stable)
            return None
        current = champions.chain_champion(st, spec.name)
        if current is not None and current.study == chosen.name:
            # Its promotion was cut short after the stable file moved (a SIGKILL): finish
            # it (`promote` records it once) rather than compare the model with itself.
            _drop_staging(model, stable)
            champions.promote(spec, version=chosen.version, trial=current.trial, storage=st,
                              reason=current.reason)
            return Challenge(chosen.name, current.trial, PROMOTED, current.score,
                             reason="a promotion cut short, finished now")
        y = rows.truth()
        mine = rows.outputs(model)
        score = compare.scores(y, mine, [spec.metric])[spec.metric]
        fields: dict[str, Any] = {"challenger_score": score, "test_rows": len(y),
                                  "challenger": f"{chosen.name} trial {number}"}
        if current is None:
            reason = f"first champion: the best trial of {chosen.name}"
            champions.promote(spec, version=chosen.version, trial=number, storage=st,
                              model=model, reason=reason, decision=fields)
            return Challenge(chosen.name, number, PROMOTED, score, reason=reason)
        fields["champion"] = f"{current.study} trial {current.trial}"
        try:
            theirs = rows.outputs(_champion_model(current))
        except TunerError as e:  # it cannot read today's rows: it cannot be the champion
            reason = (f"the champion {current.study} trial {current.trial} cannot score "
                      f"today's rows ({first_line(str(e))}); the challenger replaces it")
            champions.promote(spec, version=chosen.version, trial=number, storage=st,
                              model=model, reason=reason, decision=fields)
            return Challenge(chosen.name, number, PROMOTED, score, reason=reason)
        result = compare.paired(y, theirs, mine, spec.metric)
        fields.update(champion_score=result.champion, comparison=result.as_dict())
        wins = result.gain >= spec.retune.min_gain
        reason = (f"challenger {'wins' if wins else 'loses'} (gain {result.gain:+.4f} "
                  f"{'>=' if wins else '<'} min_gain {spec.retune.min_gain:g}): "
                  f"{result.text()}")
        if wins:
            champions.promote(spec, version=chosen.version, trial=number, storage=st,
                              model=model, reason=reason, decision=fields)
            return Challenge(chosen.name, number, PROMOTED, score, result.champion,
                             result.as_dict(), reason)
        champions.keep_model(model, chosen, stable, number)
        history.record(st, spec.name, {"decision": REFUSED, "version": chosen.name,
                                       "trial": number, "reason": reason,
                                       "data_fingerprint": chosen.attrs.get(keys.HASHES["data"]),
                                       "rows": rows.count, **fields})
        return Challenge(chosen.name, number, REFUSED, score, result.champion,
                         result.as_dict(), reason)


def challenged(rows: list[dict[str, Any]], version: str) -> bool:
    """Whether the history already holds a decision on ``version``'s challenger (or it
    was promoted, by hand or by a tick)."""
    return any(r.get("version") == version and r.get("decision") in
               (PROMOTED, REFUSED, "rolled back") for r in rows)


def _drop_staging(model: Path, stable: Path) -> None:
    from tuner import model_file

    if model.name.startswith(".") and model.parent == stable.parent:
        for path in (model, model_file.card_path(model)):
            path.unlink(missing_ok=True)
