"""Write the example tables of a regression study and of an imbalanced classification:
data/diabetes.csv and data/imbalanced.csv (fixed, no randomness left to the run).

- diabetes.csv: scikit-learn's bundled diabetes data in its original units (442
  patients: age, sex, bmi, bp and six blood serum measurements s1-s6) and ``progression``,
  a quantitative measure of disease progression one year after baseline (25 to 346):
  the target of studies/diabetes-regression.toml.
- imbalanced.csv: 3,000 rows of scikit-learn's `make_classification`, 10 numeric
  features (5 informative, 2 redundant), about 10 % of the rows ``label = "pos"``, the
  rest "neg", 1 % of the labels flipped: the target of studies/imbalanced.toml.

    python data/make_targets.py          # writes both
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def make_diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame
    return frame.rename(columns={"target": "progression"})


def make_imbalanced(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=n, n_features=10, n_informative=5, n_redundant=2,
                               weights=[0.9], flip_y=0.01, class_sep=0.8, random_state=seed)
    frame = pd.DataFrame(np.round(X, 4), columns=[f"x{i}" for i in range(X.shape[1])])
    frame["label"] = np.where(y == 1, "pos", "neg")
    return frame


def main() -> None:
    for name, frame in (("diabetes", make_diabetes()), ("imbalanced", make_imbalanced())):
        path = HERE / f"{name}.csv"
        frame.to_csv(path, index=False)
        print(f"wrote {path}: {len(frame)} rows")


if __name__ == "__main__":
    main()
