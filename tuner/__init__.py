"""tuner: hyperparameter tuning on Optuna with a hand-written numpy batch-norm MLP."""

from __future__ import annotations

__version__ = "0.1.0"
