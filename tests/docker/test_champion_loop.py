"""The champion loop in the compose stack: the scheduler service of docker/compose.yaml
decides, then re-tunes, at each tick, on a table that grows, and writes the champion into
the `artifacts` volume, where the other services read it. docs/docker.md ("The champion,
kept by the scheduler") is this test.

The stack is docker/compose.yaml as in tests/docker/test_stack.py (same images, same
offline override), with only `db` and `scheduler` up, a studies folder holding one small
study over a CSV file with a `[data] key` column, and a cron with a seconds field
(`* * * * * */10`, every 10 s) so that three ticks take seconds, not minutes:

0. no version yet: the tick creates `loop`, runs its 3 trials and, the study file having a
   [retune] section, promotes its best (the first champion, in
   /data/artifacts/champions/loop.npz, which the cli service then reads);
1. nothing changed: "up to date";
2. rows from the same distribution appended: the champion holds (no version, the file
   unchanged; history row "holds"), and the tick after says it holds on this data;
3. rows from a shifted distribution appended: "no longer holds", loop/v2 is tuned, its
   best trial is the challenger, promoted or refused (history rows "re-tune", then
   "promoted" or "refused").

The table grows only while the scheduler is between ticks, with a few seconds to go: a
tick never reads a half-written file, and each tick's lines are about the rows it saw.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import missing
from docker_support import (
    Compose,
    Steps,
    build_db_image,
    build_tuner_image,
    env_file,
    free_port,
    make_base_image,
    scheduler_ticks,
    start_engine,
    wait_for,
    why_no_docker,
)

pytestmark = pytest.mark.e2e

CRON = "* * * * * */10"  # croniter's 6th field: seconds
GAP_S = 3.0              # the least time before the next tick at which the table may grow
CHAMPION = "/data/artifacts/champions/loop.npz"  # $TUNER_ARTIFACTS/champions/NAME.npz

STUDY = """\
[study]
name = "loop"
n_trials = 3

[data]
path = "loop.csv"
target = "label"
key = "id"
drop = ["id"]

[model]
hidden = [8]
epochs = 4
batch_size = 32

[search]
alpha = { prior = "log-uniform", low = 0.05, high = 1.0 }
beta = { prior = "complement-log-uniform", low = 0.8, high = 0.99 }

[retune]
when = "degraded-or-drifted"
margin = 0.05
drift = 0.2
min_gain = 0.0
"""


def rows(start: int, n: int, *, shifted: bool = False) -> pd.DataFrame:
    """Rows ``start`` .. ``start + n - 1`` of a two-feature problem with a categorical
    column and 5 % label noise; ``shifted``: x1 and the plan mix move, and the rule that
    labels them flips."""
    rng = np.random.default_rng(start)
    move = 2.5 if shifted else 0.0
    x1 = rng.normal(size=n) + move
    x2 = rng.normal(size=n)
    plan = rng.choice(["basic", "pro"], size=n, p=[0.3, 0.7] if shifted else [0.7, 0.3])
    label = np.where((x1 - move + x2 + 0.5 * (plan == "pro") > 0) != shifted, "yes", "no")
    label = np.where(rng.random(n) < 0.05, np.where(label == "yes", "no", "yes"), label)
    return pd.DataFrame({"id": [f"r{i}" for i in range(start, start + n)], "x1": x1.round(4),
                         "x2": x2.round(4), "plan": plan, "label": label})


class Table:
    """The growing CSV file, in the folder mounted read-only at /app/studies; each
    version of it is written whole beside it, then renamed over it (atomic)."""

    def __init__(self, path: Path, first: pd.DataFrame) -> None:
        self.path, self.frame = path, first.iloc[:0]
        self.append(first)

    def append(self, more: pd.DataFrame) -> None:
        self.frame = pd.concat([self.frame, more], ignore_index=True)
        new = self.path.with_suffix(".new")
        self.frame.to_csv(new, index=False)
        new.chmod(0o644)  # the containers' uid 10001 reads it
        os.replace(new, self.path)


def test_the_scheduler_keeps_a_champion_on_a_growing_table(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    why = why_no_docker()
    if why:
        missing(why)

    def say(line: str) -> None:
        with capsys.disabled():
            print(line, flush=True)

    step = Steps(say)
    with step("engine, base, db and tuner images: found, or made as in test_stack.py"):
        start_engine()
        make_base_image()
        build_db_image()
        build_tuner_image()

    folder = tmp_path / "studies"
    folder.mkdir()
    folder.chmod(0o755)
    table = Table(folder / "loop.csv", rows(0, 600))
    (folder / "loop.toml").write_text(STUDY)
    (folder / "loop.toml").chmod(0o644)
    rows(5000, 5).drop(columns=["id", "label"]).to_csv(folder / "new.csv", index=False)
    (folder / "new.csv").chmod(0o644)
    dc = Compose(f"tuner-e2e-loop-{uuid.uuid4().hex[:8]}",
                 env_file(tmp_path / "stack.env", folder, free_port(), cron=CRON))
    try:
        _run_the_loop(dc, step, table, say)
    finally:
        try:
            if os.environ.get("TUNER_E2E_KEEP") != "1":
                with step("down -v"):
                    dc("down", "-v", "--remove-orphans", "--timeout", "60", check=False)
        finally:
            say(step.table())


def _run_the_loop(dc: Compose, step: Steps, table: Table,
                  say: Callable[[str], None]) -> None:
    def ticks() -> list[list[str]]:
        return scheduler_ticks(dc.logs("scheduler"))

    def next_tick(seen: int, label: str) -> list[str]:
        """The lines about the study (timestamps cut) of the first whole tick after the
        first ``seen``, printed with ``label``."""
        done = wait_for(lambda: (lambda t: t if len(t) > seen else None)(ticks()),
                        f"the scheduler's tick {seen} ({label})", every_s=1)
        lines = [line.partition(" ")[2] for line in done[seen]]
        for line in lines:
            say(f"[{label}, the scheduler's tick {seen}] {line}")
        assert not any("Traceback" in line or line.startswith("error") for line in lines), \
            lines
        return [line for line in lines if line.startswith(("loop:", "loop/"))]

    def between_ticks() -> int:
        """Wait until the scheduler is between ticks with GAP_S or more to go; the
        number of whole ticks so far."""
        def quiet() -> int | None:
            log = dc.logs("scheduler").splitlines()
            found = re.search(r" next run at (\S+)", log[-1]) if log else None
            if found is None:
                return None
            left = (datetime.fromisoformat(found[1]) - datetime.now(UTC)).total_seconds()
            return len(scheduler_ticks("\n".join(log))) + 1 if left >= GAP_S else None
        return wait_for(quiet, "the scheduler between two ticks", every_s=0.5) - 1

    def champion() -> dict:
        """`docker compose run --rm cli champion studies/loop.toml --json`: the cli
        service reads the champion's record and its file in the volume."""
        found = json.loads(dc.cli("champion", "studies/loop.toml", "--json").stdout)
        assert found["model_path"] == CHAMPION, found
        assert found["file_problem"] is None, found  # the file there is this model
        return found

    with step(f"up -d db scheduler (cron {CRON!r}): db healthy"):
        dc("up", "-d", "--no-build", "db", "scheduler")

    # --- tick 0: the first version, and its best promoted -----------------------------
    with step("tick 0: loop created, 3 trials, its best the first champion"):
        lines = next_tick(0, "tick 0")
        assert len(lines) == 3, lines
        assert lines[0] == "loop: no version yet: created loop and run 3 trials", lines
        assert lines[1].endswith("(first version); 3 of 3 trials finished"), lines
        assert re.fullmatch(r"loop: loop trial \d+ promoted: first champion: the best "
                            r"trial of loop", lines[2]), lines
    with step("the cli service reads it: champion --json, predict --champion"):
        first = champion()
        assert first["study"] == "loop", first
        predicted = dc.cli("predict", "--champion", "studies/loop.toml", "studies/new.csv")
        assert len(predicted.stdout.split()) == 5, predicted.stdout
        assert set(predicted.stdout.split()) <= {"yes", "no"}, predicted.stdout

    # --- tick 1: nothing changed ---------------------------------------------------------
    with step("tick 1: nothing changed: up to date"):
        # Any tick after the first: the table has not moved.
        lines = next_tick(1, "tick 1")
        assert len(lines) == 1, lines
        assert lines[0].startswith("loop: up to date (loop, 3 of 3 trials finished"), lines

    # --- tick 2: rows from the same distribution -----------------------------------------
    with step("tick 2: +300 rows from the same distribution: the champion holds"):
        seen = between_ticks()
        table.append(rows(600, 300))
        lines = next_tick(seen, "tick 2")
        assert len(lines) == 1, lines
        assert re.fullmatch(
            rf"loop: data changed \(\+300 rows\); champion loop trial {first['trial']} "
            r"holds: accuracy \S+ on \d+ held-out rows \(was \S+\), largest drift \S+ PSI "
            r"\S+ <= 0\.2", lines[0]), lines
        lines = next_tick(seen + 1, "tick 2, the next")
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"loop: up to date: champion loop trial {first['trial']} "
                                   "holds on this data (decided "), lines
    with step("the champion's file is unchanged"):
        assert champion()["model_sha256"] == first["model_sha256"]

    # --- tick 3: shifted rows ------------------------------------------------------------
    with step("tick 3: +900 shifted rows: loop/v2 tuned, its challenger decided"):
        seen = between_ticks()
        table.append(rows(900, 900, shifted=True))
        lines = next_tick(seen, "tick 3")
        assert len(lines) == 4, lines
        assert re.fullmatch(
            rf"loop: data changed \(\+1,200 rows\); champion loop trial {first['trial']} "
            r"no longer holds: .*, largest drift \S+ PSI \S+ > 0\.2; policy "
            r"'degraded-or-drifted': re-tuning", lines[0]), lines
        assert re.fullmatch(r"loop: data changed \(data \w+ -> \w+\): created loop/v2 from "
                            r"loop and run 3 trials, the first \d with its best parameters",
                            lines[1]), lines
        assert lines[2].startswith("loop/v2: best val_accuracy "), lines
        assert lines[2].endswith("; 3 of 3 trials finished"), lines
        decided = re.fullmatch(r"loop: loop/v2 trial (\d+) (promoted|refused): .*on the same "
                               r"(\d+) held-out rows.*", lines[3])
        assert decided, lines
        promotion = decided[2]

    with step("history, champion and versions, read by the cli service"):
        history = json.loads(dc.cli("history", "studies/loop.toml", "--json").stdout)
        assert [row["decision"] for row in history] == ["promoted", "holds", "re-tune",
                                                        promotion], history
        assert [row["version"] for row in history] == ["loop", "loop", "loop/v2",
                                                       "loop/v2"], history
        assert [row["rows"] for row in history] == [600, 900, 1800, 1800], history
        now = champion()
        if promotion == "promoted":
            assert (now["study"], now["trial"]) == ("loop/v2", int(decided[1])), now
            assert now["model_sha256"] != first["model_sha256"]
        else:
            assert now["model_sha256"] == first["model_sha256"], now
        versions = json.loads(dc.cli("study", "list", "--json").stdout)
        assert sorted((v["name"], v["version"]) for v in versions) == [("loop", 1),
                                                                      ("loop/v2", 2)]
    assert "Traceback" not in dc.logs("scheduler")
