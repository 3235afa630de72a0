"""Every ``tuner:*`` attribute key, in one place: the contract with the storage.

Study user attributes describe a version (DESIGN.md, "Study versions"); trial user
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

# --- trial user attributes ------------------------------------------------------------------
WARM_START = "tuner:warm_start"            # a parent's best parameters, re-scored
DIVERGED = "tuner:diverged"                # PRUNED because the loss blew up
DIVERGED_EPOCH = "tuner:diverged_epoch"
TRAIN_SECONDS = "tuner:train_seconds"      # wall time of the trial's fit
FAILED_BY_ITSELF = "tuner:failed_by_itself"  # the objective raised (not a crash); why
OWN_FAILURES = "tuner:own_failures"        # system attr: own failures across the retries

# The three hashes a version is compared on, by the name `decide` reports them under,
# plus the chain's own attributes (the shape DESIGN.md's "Study versions" describes).
HASHES = {"data": DATA_FINGERPRINT, "hardware": HARDWARE_FINGERPRINT,
          "definition": SPEC_HASH}
ATTR = {**HASHES, "version": VERSION, "parent": PARENT, "reason": REASON}
