"""The tests of the installed Optuna's sdist (``tests/storages_tests/``), fetched once.

Optuna's wheel ships ``optuna/testing/`` but not its ``tests/`` folder; the sdist of the
same version has both. It is fetched with pip (``pip download --no-binary :all:``) into
``.cache/optuna-sdist/`` (git-ignored) and unpacked there, so CI needs nothing but the
package index.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import optuna

from helpers import ROOT

CACHE = ROOT / ".cache" / "optuna-sdist"


def sdist_root() -> Path:
    """The unpacked sdist of the installed Optuna version (fetched if not cached)."""
    version = optuna.__version__
    root = CACHE / f"optuna-{version}"
    if (root / "tests" / "storages_tests").is_dir():
        return root
    CACHE.mkdir(parents=True, exist_ok=True)
    archive = CACHE / f"optuna-{version}.tar.gz"
    if not archive.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--no-binary", ":all:", f"optuna=={version}", "-d", str(CACHE)],
                       check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(CACHE, filter="data")
    return root
