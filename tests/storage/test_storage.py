"""`TunerStorage` as a whole (tuner/storage/_storage.py): many processes opening one fresh
database at the same instant all get a working storage. The storage's parts are tested
in their own files beside this one."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


# Each child imports first, then waits for the same instant, so the 8 opens really race.
OPEN_AT = """
import sys, time
from tuner.storage import open_storage
at = float(sys.argv[2])
time.sleep(max(0.0, at - time.time()))
storage = open_storage(sys.argv[1])
assert storage.get_all_studies() == []
print("opened")
"""


def test_eight_processes_opening_one_fresh_database_at_once_all_succeed(any_url: str) -> None:
    """Several workers started at once on a fresh database race to create Optuna's tables
    (SQLite "UNIQUE constraint failed: alembic_version", MariaDB "Duplicate entry",
    PostgreSQL "relation ... already exists"). A lost race means the tables are there:
    every process must open the storage, however short TUNER_CONNECT_TIMEOUT (3 s here)."""
    import os
    import subprocess
    import sys
    import time

    at = time.time() + 8  # enough for 8 interpreters to import tuner.storage on a busy box
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_AT, any_url, str(at)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "TUNER_CONNECT_TIMEOUT": "3"})
             for _ in range(8)]
    outputs = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    for code, out, err in outputs:
        assert code == 0 and out.strip() == "opened", err
