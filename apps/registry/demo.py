"""Synthetic demo data: reproducible tables (fixed seeds) and a small scikit-learn credit model.

The tables are invented; they contain protected attributes (`sex`, `age_band`) so that bias checks
have something to measure. The same seed always writes byte-identical CSV files.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np

CREDIT_SEED = 20240801
CV_SEED = 20240802
FRAUD_SEED = 20240803

AGE_BANDS = ["18-25", "26-35", "36-50", "51-65", "65+"]
CREDIT_FEATURES = [
    "income", "debt_to_income", "credit_history_months", "open_credit_lines", "late_payments_12m", "loan_amount",
]
CREDIT_COLUMNS = ["applicant_id", "sex", "age_band", *CREDIT_FEATURES, "defaulted"]


@dataclass(frozen=True)
class Table:
    """Rows with named columns, rendered as CSV bytes."""

    columns: list[str]
    rows: list[list]

    def to_csv(self) -> bytes:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        return buffer.getvalue().encode("utf-8")

    def column(self, name: str) -> list:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]


def credit_applications(*, rows: int = 2000, seed: int = CREDIT_SEED) -> Table:
    """Loan applications with a default label that depends on the financial features only."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], size=rows)
    age_band = rng.choice(AGE_BANDS, size=rows, p=[0.15, 0.3, 0.3, 0.18, 0.07])
    income = np.round(rng.lognormal(mean=10.4, sigma=0.45, size=rows), 2)
    debt_to_income = np.round(np.clip(rng.beta(2, 5, size=rows), 0, 1), 3)
    history = rng.integers(0, 360, size=rows)
    open_lines = rng.poisson(3, size=rows)
    late = rng.poisson(0.4, size=rows)
    loan = np.round(rng.uniform(1000, 40000, size=rows), 2)
    logit = (
        -1.2 + 3.5 * debt_to_income - 0.004 * history + 0.7 * late + 0.00003 * loan
        - 0.000012 * (income - 33000) + 0.05 * open_lines
    )
    defaulted = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    data = [
        [
            index + 1, str(sex[index]), str(age_band[index]), f"{income[index]:.2f}", f"{debt_to_income[index]:.3f}",
            int(history[index]), int(open_lines[index]), int(late[index]), f"{loan[index]:.2f}", int(defaulted[index]),
        ]
        for index in range(rows)
    ]
    return Table(columns=CREDIT_COLUMNS, rows=data)


def split(table: Table, *, test_fraction: float = 0.3) -> tuple[Table, Table]:
    """The first rows for training, the rest for testing (the rows are already in random order)."""
    cut = int(len(table.rows) * (1 - test_fraction))
    return Table(table.columns, table.rows[:cut]), Table(table.columns, table.rows[cut:])


def cv_applications(*, rows: int = 600, seed: int = CV_SEED) -> Table:
    """Job applications with screening outcome; experience and skills drive the label."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], size=rows)
    age_band = rng.choice(AGE_BANDS[:4], size=rows, p=[0.25, 0.4, 0.25, 0.1])
    experience = np.clip(np.round(rng.gamma(2.0, 3.0, size=rows), 1), 0, 40)
    skills = rng.integers(0, 11, size=rows)
    degree = rng.choice(["none", "bachelor", "master", "doctorate"], size=rows, p=[0.2, 0.5, 0.25, 0.05])
    logit = -3 + 0.18 * experience + 0.35 * skills
    shortlisted = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    data = [
        [index + 1, str(sex[index]), str(age_band[index]), f"{experience[index]:.1f}", int(skills[index]),
         str(degree[index]), int(shortlisted[index])]
        for index in range(rows)
    ]
    return Table(
        columns=["application_id", "sex", "age_band", "years_experience", "skills_matched", "degree", "shortlisted"],
        rows=data,
    )


def card_transactions(*, rows: int = 1500, seed: int = FRAUD_SEED) -> Table:
    """Card transactions with a rare fraud label; customers are pseudonymous ids."""
    rng = np.random.default_rng(seed)
    amount = np.round(rng.lognormal(3.5, 1.1, size=rows), 2)
    hour = rng.integers(0, 24, size=rows)
    foreign = rng.random(rows) < 0.08
    merchant = rng.choice(["grocery", "travel", "online", "fuel", "electronics"], size=rows)
    logit = -5.5 + 0.0008 * amount + 1.8 * foreign + 0.9 * ((hour < 5) | (hour > 22))
    fraud = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    data = [
        [index + 1, f"c{rng.integers(1, 400):04d}", f"{amount[index]:.2f}", int(hour[index]),
         "true" if foreign[index] else "false", str(merchant[index]), int(fraud[index])]
        for index in range(rows)
    ]
    return Table(
        columns=["transaction_id", "customer_ref", "amount_eur", "hour", "foreign", "merchant_category", "fraud"],
        rows=data,
    )


def train_credit_model(train: Table, test: Table):
    """Fits a standardised logistic regression on the financial features (never on sex or age band).

    Returns (pipeline, metrics on the test table as {"accuracy": .., "roc_auc": ..}).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def matrix(table: Table):
        features = np.array([[float(value) for value in table.column(name)] for name in CREDIT_FEATURES]).T
        labels = np.array([int(value) for value in table.column("defaulted")])
        return features, labels

    x_train, y_train = matrix(train)
    x_test, y_test = matrix(test)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500))
    pipeline.fit(x_train, y_train)
    metrics = {
        "accuracy": round(float(accuracy_score(y_test, pipeline.predict(x_test))), 4),
        "roc_auc": round(float(roc_auc_score(y_test, pipeline.predict_proba(x_test)[:, 1])), 4),
    }
    return pipeline, metrics
