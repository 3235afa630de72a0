"""Write data/churn.csv: a small customer-churn table to tune on (fixed seed, ~250 KB).

3,000 customers: numeric and categorical columns, a few gaps in each kind, and a text
label ("yes" / "no") that depends on them the way churn usually does (short tenure,
month-to-month contracts, fibre without support calls answered, high charges).

    python data/make_churn.py                        # writes data/churn.csv
    python data/make_churn.py --table "$CHURN_DATABASE_URL"   # also loads table `churn`

The second form loads the same rows into the table `churn` of any SQLAlchemy database
(replacing it), for data/studies/churn-table.toml.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SEED = 14
N = 3000


def make_churn(n: int = N, seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    contract = rng.choice(["month-to-month", "one-year", "two-year"], n, p=[0.55, 0.25, 0.2])
    internet = rng.choice(["dsl", "fiber", "none"], n, p=[0.35, 0.45, 0.2])
    payment = rng.choice(["card", "bank-transfer", "e-check", "mailed-check"], n)
    tenure = np.where(contract == "month-to-month", rng.integers(1, 36, n),
                      rng.integers(6, 73, n))
    monthly = (20 + 25 * (internet == "dsl") + 50 * (internet == "fiber")
               + rng.normal(0, 8, n)).round(2)
    support_calls = rng.poisson(1.2 + 1.5 * (internet == "fiber"), n)
    senior = rng.random(n) < 0.16
    logit = (-1.2 + 1.3 * (contract == "month-to-month") - 0.9 * (contract == "two-year")
             - 0.045 * tenure + 0.02 * (monthly - 60) + 0.35 * support_calls
             + 0.5 * (payment == "e-check") + 0.4 * senior)
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    df = pd.DataFrame({
        "customer_id": [f"C{i:05d}" for i in range(n)],
        "tenure_months": tenure,
        "monthly_charges": monthly,
        "total_charges": (monthly * tenure * rng.uniform(0.95, 1.05, n)).round(2),
        "support_calls": support_calls,
        "contract": contract,
        "internet": internet,
        "payment": payment,
        "senior": senior,
        "churned": np.where(churned, "yes", "no"),
    })
    # Gaps, as an export from a real system has them.
    df.loc[rng.random(n) < 0.03, "total_charges"] = np.nan
    df.loc[rng.random(n) < 0.02, "monthly_charges"] = np.nan
    df.loc[rng.random(n) < 0.04, "internet"] = None
    df.loc[rng.random(n) < 0.02, "payment"] = None
    return df


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=HERE / "churn.csv")
    parser.add_argument("--table", metavar="URL",
                        help="also load the rows into table `churn` of this database")
    args = parser.parse_args()
    df = make_churn()
    df.to_csv(args.output, index=False)
    print(f"wrote {args.output} ({len(df)} rows, {args.output.stat().st_size:,} bytes)")
    if args.table:
        import sqlalchemy

        engine = sqlalchemy.create_engine(args.table)
        df.to_sql("churn", engine, index=False, if_exists="replace")
        engine.dispose()
        print(f"loaded {len(df)} rows into table churn")


if __name__ == "__main__":
    main()
