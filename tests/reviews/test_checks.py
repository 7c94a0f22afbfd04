"""The check computations: fairness against fairlearn as the oracle, safe loading, process limits."""

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.conf import settings

from apps.reviews.checks import fairness, governance
from apps.reviews.sandbox import Limits, SandboxFailure, run_check_process


@pytest.fixture(scope="module")
def labelled_groups():
    rng = np.random.default_rng(5)
    rows = 5000
    table = pd.DataFrame({"sex": rng.choice(["F", "M"], rows), "age_band": rng.choice(["young", "mid", "old"], rows)})
    y_true = rng.random(rows) < 0.3 + 0.1 * (table["sex"] == "F")
    y_pred = rng.random(rows) < 0.25 + 0.2 * y_true + 0.05 * (table["age_band"] == "old")
    return table, y_true.to_numpy(), y_pred.to_numpy()


@pytest.mark.parametrize("attributes", [["sex"], ["age_band"], ["sex", "age_band"]], ids=["sex", "age", "intersection"])
def test_fairness_numbers_equal_fairlearns_to_1e_9(labelled_groups, attributes):
    import fairlearn.metrics as fm
    from sklearn.metrics import precision_score

    table, y_true, y_pred = labelled_groups
    result = fairness.assess(table, y_true, y_pred, protected_attributes=["sex", "age_band"],
                             thresholds={"min_group_size": 0})
    ours = result["by_attribute"][" & ".join(attributes)]
    sensitive = table[attributes] if len(attributes) > 1 else table[attributes[0]]
    frame = fm.MetricFrame(
        metrics={"selection_rate": fm.selection_rate, "tpr": fm.true_positive_rate, "fpr": fm.false_positive_rate,
                 "ppv": lambda t, p: precision_score(t, p, zero_division=0), "n": fm.count},
        y_true=y_true, y_pred=y_pred, sensitive_features=sensitive,
    )
    for group, row in frame.by_group.iterrows():
        label = " & ".join(group) if isinstance(group, tuple) else group
        mine = ours["groups"][label]
        assert mine["n"] == row["n"]
        for metric in ("selection_rate", "tpr", "fpr", "ppv"):
            assert mine[metric] == pytest.approx(row[metric], abs=1e-9)
        members = (table[attributes].astype(str).agg(" & ".join, axis=1) == label).to_numpy()
        assert mine["base_rate"] == pytest.approx(y_true[members].mean(), abs=1e-9)
    kwargs = {"y_true": y_true, "y_pred": y_pred, "sensitive_features": sensitive}
    assert ours["demographic_parity_difference"] == pytest.approx(fm.demographic_parity_difference(**kwargs), abs=1e-9)
    assert ours["demographic_parity_ratio"] == pytest.approx(fm.demographic_parity_ratio(**kwargs), abs=1e-9)
    assert ours["equalized_odds_difference"] == pytest.approx(fm.equalized_odds_difference(**kwargs), abs=1e-9)
    assert ours["equal_opportunity_difference"] == pytest.approx(
        fm.equal_opportunity_difference(**kwargs), abs=1e-9)


def test_fairness_flags_small_groups_and_compares_with_the_locked_thresholds(labelled_groups):
    table, y_true, y_pred = labelled_groups
    table = table.copy()
    table.loc[:9, "age_band"] = "tiny"
    result = fairness.assess(table, y_true, y_pred, protected_attributes=["age_band"],
                             thresholds={"min_group_size": 30, "equalized_odds_difference_max": 0.0,
                                         "demographic_parity_ratio_min": 0.0})
    assert result["small_groups"] == [{"attribute": "age_band", "group": "tiny", "n": 10}]
    assert result["by_attribute"]["age_band"]["groups"]["tiny"]["small"] is True
    assert result["by_attribute"]["age_band"]["groups_compared"] == 3
    assert len(result["reasons"]) == 1 and "equalized odds difference" in result["reasons"][0]


def test_documentation_check_names_the_missing_fields():
    result = governance.assess_documentation({"intended_use": "Scoring.", "limitations": " "},
                                             required_fields=["intended_use", "limitations", "human_oversight"])
    assert result["missing"] == ["limitations", "human_oversight"]
    assert result["reasons"]


# --- the sandbox ------------------------------------------------------------------------------------


class _WritesMarker:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "unpickled!"))


def _request(tmp_path, artifact: bytes, fmt="skops", kind="performance"):
    model = tmp_path / "model.bin"
    model.write_bytes(artifact)
    data = tmp_path / "data.csv"
    data.write_text("x,y\n1,0\n2,1\n")
    return {"kind": kind, "model": {"path": str(model), "format": fmt,
                                    "trusted_types": list(settings.DOCKET_SKOPS_TRUSTED_TYPES)},
            "datasets": {"evaluation": {"path": str(data), "format": "csv"}}, "evaluation_dataset": "evaluation",
            "features": ["x"], "label_column": "y", "positive_label": 1, "protected_attributes": [],
            "thresholds": {}, "claims": [], "seed": 0}


LIMITS = Limits(memory_bytes=4 * 1024**3, cpu_seconds=120, wall_seconds=120)


@pytest.mark.parametrize("fmt", ["skops", "onnx", "pickle"])
def test_a_malicious_pickle_is_never_executed_whatever_format_it_claims(tmp_path, fmt):
    marker = tmp_path / "pickle-was-loaded"
    request = _request(tmp_path, pickle.dumps(_WritesMarker(str(marker)), protocol=4), fmt=fmt)
    with pytest.raises(SandboxFailure):
        run_check_process(request, limits=LIMITS)
    assert not marker.exists()


def test_a_skops_file_with_types_outside_the_allow_list_is_not_loaded(tmp_path):
    import os

    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    request = _request(tmp_path, skops.io.dumps(FunctionTransformer(func=os.system)))
    with pytest.raises(SandboxFailure, match="allow-list"):
        run_check_process(request, limits=LIMITS)


def test_a_check_over_its_memory_limit_fails_cleanly(tmp_path):
    import skops.io
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit([[1], [2], [3], [4]], [0, 0, 1, 1])
    request = _request(tmp_path, skops.io.dumps(model))
    with pytest.raises(SandboxFailure, match="memory"):
        run_check_process(request, limits=Limits(memory_bytes=64 * 1024**2, cpu_seconds=60, wall_seconds=60))


def test_a_check_over_its_wall_clock_limit_is_stopped(tmp_path):
    import skops.io
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit([[1], [2], [3], [4]], [0, 0, 1, 1])
    request = _request(tmp_path, skops.io.dumps(model))
    with pytest.raises(SandboxFailure, match="wall-clock limit of 0.2 s"):
        run_check_process(request, limits=Limits(memory_bytes=4 * 1024**3, cpu_seconds=60, wall_seconds=0.2))
