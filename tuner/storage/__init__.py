"""Where studies live: an Optuna RDB storage that survives many workers and outages.

Open one with `open_storage` (the only way `tuner` opens a storage); the URL a command
uses comes from `resolve_storage_url`. What a `TunerStorage` guarantees is in its
docstring and in those of its two modes, which a caller enters:

- ``with storage.budget():`` new trials only while the version holds fewer than its
  n_trials (`QuotaReached` otherwise), exact across any number of workers;
- ``with storage.lean():`` a running trial's reports written behind, repeated reads
  answered once, its first heartbeat one interval late.

Every RDB storage beats a heartbeat; a trial whose worker died is failed after the grace
period and queued again with the same parameters (`retry_trial`, `requeue`). A storage
lost mid-run is retried for ``TUNER_OUTAGE_TIMEOUT`` seconds, then `StorageLost`.
A password is never shown: `tuner.passwords`.

Private modules: ``_url`` (which URL, checked), ``_engine`` (pool, SQLite transactions),
``_open``, ``_storage`` (the storage type), ``_outage`` (retry through an outage),
``_budget``, ``_lean`` (write-behind and read reuse), ``_retries`` (which trials run
again), ``_optuna_private`` (the pieces of Optuna's private API tuner relies on).
"""

from __future__ import annotations

from tuner.storage._budget import QuotaReached
from tuner.storage._open import open_storage
from tuner.storage._optuna_private import distribution_contains, rdb_models
from tuner.storage._outage import TRANSIENT_ERRORS, StorageLost, storage_cause, transient_cause
from tuner.storage._retries import FAILED_BY_ITSELF_ATTR, MAX_RETRY, requeue, retry_trial
from tuner.storage._storage import TunerStorage
from tuner.storage._url import (
    DEFAULT_STORAGE,
    NoDatabase,
    StorageError,
    default_artifact_dir,
    resolve_storage_url,
)

__all__ = [
    "DEFAULT_STORAGE", "FAILED_BY_ITSELF_ATTR", "MAX_RETRY", "TRANSIENT_ERRORS",
    "NoDatabase", "QuotaReached", "StorageError", "StorageLost", "TunerStorage",
    "default_artifact_dir", "distribution_contains", "open_storage", "rdb_models",
    "requeue", "resolve_storage_url", "retry_trial", "storage_cause", "transient_cause",
]
