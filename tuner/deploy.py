"""Where the champion's files go ([deploy] path, else the artifact folder), and the
checks a model file passes before it may become the champion: its folder can be written,
its card names the version and trial it is promoted as, that version's data and
definition, and the bytes the card describes.

Nothing here imports Optuna or SQLAlchemy unless the champion has no [deploy] path (then
the artifact folder is found from the storage URL): `tuner predict --champion` starts fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner import keys
from tuner.errors import TunerError

if TYPE_CHECKING:
    from tuner.spec import StudySpec
    from tuner.versions import Version

__all__ = ["PromoteError", "champion_file", "champion_path", "check_claim", "check_writable",
           "kept_path", "read_card", "sha256"]


class PromoteError(TunerError):
    """A model that cannot become the champion; the message says why."""


# --- where -------------------------------------------------------------------------------

def _safe_name(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    if safe != name:  # two names that differ only in such characters must not collide
        safe += "-" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return safe


def champion_path(spec: StudySpec, storage_url: str | None = None) -> Path:
    """The stable file of ``spec``'s champion: ``[deploy] path``, else
    ``<artifact folder>/champions/<NAME>.npz``."""
    if spec.deploy.path is not None:
        return spec.deploy.path
    folder = os.environ.get("TUNER_ARTIFACTS")
    if folder:
        base = Path(folder).expanduser().resolve()
    else:
        from tuner.storage import default_artifact_dir, resolve_storage_url

        base = default_artifact_dir(storage_url or resolve_storage_url(None, spec.storage))
    return base / "champions" / f"{_safe_name(spec.name)}.npz"


def champion_file(file: str | Path) -> Path:
    """The stable file of the champion of the study file ``file``, for `tuner predict
    --champion`: read from the study file alone when it has a [deploy] path (no storage,
    no Optuna: predict's fast start)."""
    from tuner.spec import load_spec

    spec = load_spec(file)
    path = champion_path(spec)
    if not path.is_file():
        raise PromoteError(f"{file}: no champion at {path} yet: run `tuner promote {file}`")
    return path


def kept_path(stable: Path, version: int, trial: int) -> Path:
    """``models/churn.npz`` -> ``models/churn.v2.t17.npz``: the model of one trial, kept."""
    return stable.with_name(f"{stable.stem}.v{version}.t{trial}{stable.suffix}")


def check_writable(stable: Path, spec: StudySpec) -> None:
    """Refuse, before anything is trained or written, a champion folder we cannot write."""
    where = (f"{spec.path}: [deploy] path: {spec.deploy.written!r}" if spec.deploy.path
             else f"{spec.path}: the champion's folder {stable.parent} (no [deploy] path)")
    folder = stable.parent
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        raise PromoteError(f"{where}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PromoteError(f"{where}: folder {existing} is not writable; set [deploy] path to "
                           "a folder you can write (or mount one)")
    if stable.exists() and not stable.is_file():
        raise PromoteError(f"{where}: {stable} exists and is not a file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PromoteError(f"{where}: cannot create folder {folder}: {e.strerror or e}"
                           ) from None


def sha256(path: Path) -> str | None:
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return None


def read_card(model: Path) -> dict[str, Any]:
    from tuner import model_file

    card_file = model_file.card_path(model)
    try:
        card = json.loads(card_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PromoteError(f"{model}: its card {card_file} cannot be read ({e}); a model "
                           "comes with the card `tuner train` writes beside it") from None
    if not isinstance(card, dict) or card.get("format") != model_file.CARD_FORMAT:
        raise PromoteError(f"{card_file} is not a tuner model card")
    return card


def check_claim(model: Path, card: dict[str, Any], version: Version, trial: int | None
                 ) -> int:
    """Refuse a model whose card does not match the version (and trial) it is promoted
    as: other data, another definition, another trial, or a file that is not the one the
    card describes. Returns its trial number."""
    fp = card.get("fingerprints") or {}
    moved = [(part, str(fp.get(field))[:12], str(version.attrs.get(keys.HASHES[part]))[:12])
             for part, field in (("data", "data"), ("definition", "definition"))
             if fp.get(field) != version.attrs.get(keys.HASHES[part])]
    if moved:
        what = "; ".join(f"{part}: the model's {mine}, {version.name}'s {theirs}"
                         for part, mine, theirs in moved)
        raise PromoteError(f"{model} was trained on other {' and '.join(p for p, _, _ in moved)}"
                           f" than {version.name} was tuned on ({what}): it is not "
                           f"{version.name}'s model; train it with `tuner promote` (no model)")
    if card.get("version") != version.name:
        raise PromoteError(f"{model} is a model of {card.get('version')!r}, not of "
                           f"{version.name}")
    if trial is not None and card.get("trial") != trial:
        raise PromoteError(f"{model} is trial {card.get('trial')}'s model, not trial {trial}'s")
    if sha256(model) != card.get("model_sha256"):
        raise PromoteError(f"{model} is not the file its card describes (its sha256 differs "
                           "from the card's model_sha256): retrain it")
    return int(card["trial"])
