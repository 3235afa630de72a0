"""Every ``tuner:*`` attribute key, in one place: the contract with the storage.

Study user attributes describe a version (docs/retuning.md); trial user
attributes describe how one trial went. Nothing else in `tuner` spells a ``tuner:`` key.
This module imports nothing from `tuner`, so any module may import it.
"""

from __future__ import annotations

PREFIX = "tuner:"                          # every key below starts with it

# --- study user attributes (one version of a chain) ---------------------------------------
DATA_FINGERPRINT = "tuner:data_fingerprint"
HARDWARE_FINGERPRINT = "tuner:hardware_fingerprint"
SPEC_HASH = "tuner:spec_hash"              # the definition's hash
VERSION = "tuner:version"                  # 1, 2, ...; written last, marks a version ready
PARENT = "tuner:parent"                    # the previous version's study name, or None
REASON = "tuner:reason"                    # why this version exists, for people
FINGERPRINTS = "tuner:fingerprints"        # what the hashes were computed from, for people
STUDY_FILE = "tuner:study_file"            # the study file the version was made from
N_TRIALS = "tuner:n_trials"                # the version's budget (`tuner.storage`)
MODEL = "tuner:model"                      # the last model `tuner train` made from it

# --- the chain's own keys, on its first version's study (`tuner.history`, `tuner.champion`) ----
# One history row per key, HISTORY + "<UTC time>-<random>": rows sort by time, two
# processes recording at once never write the same key, and each value stays small (a
# MySQL TEXT column holds 64 KiB).
HISTORY = "tuner:history:"
# A promotion decided and written to disk but not yet recorded (`tuner.champion`).
CHAMPION_PENDING = "tuner:champion_pending"

# --- trial user attributes ------------------------------------------------------------------
WARM_START = "tuner:warm_start"            # a parent's best parameters, re-scored
DIVERGED = "tuner:diverged"                # PRUNED because the loss blew up
DIVERGED_EPOCH = "tuner:diverged_epoch"
TRAIN_SECONDS = "tuner:train_seconds"      # wall time of the trial's fit
FOLD_VALUES = "tuner:fold_values"          # [data] folds: each fold's value (trial: mean)
VAL_METRICS = "tuner:val_metrics"          # every metric of the task at the last epoch
FAILED_BY_ITSELF = "tuner:failed_by_itself"  # the objective raised (not a crash); why
OWN_FAILURES = "tuner:own_failures"        # system attr: own failures across the retries

# The three hashes a version is compared on, by the name `decide` reports them under,
# plus the chain's own attributes (the shape docs/retuning.md describes).
HASHES = {"data": DATA_FINGERPRINT, "hardware": HARDWARE_FINGERPRINT,
          "definition": SPEC_HASH}
ATTR = {**HASHES, "version": VERSION, "parent": PARENT, "reason": REASON}
