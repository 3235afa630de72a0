"""What the `predict` fuzz tests share: a real model made by `tuner study run` and
`tuner train` (iris: 4 features, 3 classes), and the one property every case must hold."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from helpers import write_study

__all__ = ["assert_predicts_or_refuses", "predict", "train_model"]


def train_model(folder: Path) -> Path:
    """model.npz (and its card model.json) from a real, tiny study."""
    from tuner.cli import cli

    study = write_study(folder, name="fuzzmodel", n_trials=2, epochs=3, dataset="iris")
    db = f"sqlite:///{folder / 'tuner.db'}"
    runner = CliRunner()
    ran = runner.invoke(cli, ["-q", "study", "run", str(study), "--storage", db])
    assert ran.exit_code == 0, ran.stderr
    model = folder / "model.npz"
    trained = runner.invoke(cli, ["-q", "train", str(study), "--storage", db, "-o", str(model),
                                  "--no-upload"])
    assert trained.exit_code == 0, trained.stderr
    return model


def predict(model: Path, data: Path) -> Result:
    from tuner.cli import cli

    return CliRunner().invoke(cli, ["predict", str(model), str(data)])


def assert_predicts_or_refuses(result: Result, case: object) -> None:
    """Exit 0 with one label per line, or exit 2 with one line on stderr; never exit 1,
    a traceback, or an exception escaping the CLI."""
    assert result.exit_code in (0, 2), (case, result.exit_code, result.stderr,
                                        result.exception)
    assert "Traceback" not in result.stderr, (case, result.stderr)
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (case, result.stderr)
        assert len(lines[0]) < 600, (case, lines[0])
    else:
        labels = result.stdout.splitlines()
        assert labels and all(label.strip() for label in labels), (case, result.stdout)
