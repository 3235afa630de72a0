"""The [deploy] section: where the champion model (`tuner.champion`) is written.

    [deploy]
    path = "models/churn.npz"   # relative to the study file; model.json goes beside it

Only the form is checked here (a string naming an ``.npz`` file, not a folder, not a
device, not the study file or its data); whether the folder can be written is checked by
`tuner promote` before anything is trained, because the workers that read the same study
file need not mount the folder the champion goes to.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuner.sources import resolve_path
from tuner.spec.reader import Reader
from tuner.spec.schema import DataSpec, DeploySpec

_DEPLOY_KEYS = ("path",)
_SYSTEM = (Path("/dev"), Path("/proc"), Path("/sys"))


def _parse_deploy(r: Reader, table: Mapping[str, Any], data: DataSpec) -> DeploySpec:
    r.check_keys("deploy", table, _DEPLOY_KEYS)
    raw = r.get("deploy", table, "path", str, None)
    if raw is None:
        return DeploySpec()
    where = "[deploy] path"
    if not raw.strip() or "\x00" in raw:
        raise r.fail(where, f"{raw!r} must name a file, e.g. \"models/churn.npz\"")
    if raw.endswith(("/", "\\")):
        raise r.fail(where, f"{raw!r} names a folder; name the model file, e.g. "
                     f"\"{raw.rstrip('/')}/model.npz\"")
    path = resolve_path(raw, r.path)
    if path.suffix.lower() != ".npz":
        raise r.fail(where, f"{raw!r} must end in .npz (the model file; its card goes "
                     "beside it as .json)")
    if any(path == d or d in path.parents for d in _SYSTEM):
        raise r.fail(where, f"{raw!r} is inside {path.parts[0]}{path.parts[1]}, not a "
                     "place for files; write the champion to a folder of yours")
    if path.is_dir():
        raise r.fail(where, f"{raw!r} is a folder; name the model file inside it")
    inputs = {"the study file": r.path.absolute()}
    if data.path is not None:
        inputs["the data file"] = resolve_path(data.path, r.path)
    for what, other in inputs.items():
        for written in (path, path.with_suffix(".json")):
            if written == Path(other) or (written.exists() and other.exists()
                                          and written.samefile(other)):
                raise r.fail(where, f"{raw!r} would overwrite {what}; write the champion "
                             "elsewhere")
    return DeploySpec(path=path, written=raw)
