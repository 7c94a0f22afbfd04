"""SHAP explanations: TreeExplainer for tree ensembles (also as the last step of a scikit-learn
pipeline, explained in the space of the preceding steps' output); otherwise a model-agnostic
explainer over the positive-class probability (exact Shapley values for up to `exact_max_features`
features, permutation sampling beyond), on as many rows as `time_budget_seconds` allows. Global importance is mean |SHAP|; a
beeswarm and a bar plot are rendered as PNG. Additivity (base value + Σ SHAP = model output) is
measured and any failure recorded, never hidden."""

from __future__ import annotations

import io
import time

import numpy as np

TREE_MODULE_PREFIXES = ("sklearn.ensemble", "sklearn.tree", "xgboost", "lightgbm", "catboost")


def _is_tree_model(estimator) -> bool:
    module = type(estimator).__module__
    return module.startswith(TREE_MODULE_PREFIXES) and (
        hasattr(estimator, "estimators_") or hasattr(estimator, "tree_") or hasattr(estimator, "_predictors")
        or module.startswith(("xgboost", "lightgbm", "catboost"))
    )


def split_pipeline(model):
    """(preprocessing or None, final estimator) for a scikit-learn Pipeline; (None, model) otherwise."""
    steps = getattr(model, "steps", None)
    if steps and len(steps) > 1:
        return model[:-1], steps[-1][1]
    if steps:
        return None, steps[-1][1]
    return None, model


def _positive_class_output(values, positive_index: int):
    array = np.asarray(values)
    if array.ndim == 3:
        return array[:, :, positive_index]
    return array


def _figure_png(draw) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.close("all")
    draw()
    buffer = io.BytesIO()
    plt.gcf().savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close("all")
    return buffer.getvalue()


def explain(model, features, *, feature_names: list[str], positive_index: int, thresholds: dict, seed: int) -> dict:
    """SHAP values for a sample of `features` (rows drawn with `seed`) and what they say."""
    import shap

    rng = np.random.default_rng(seed)
    preprocessing, estimator = split_pipeline(model)
    rows = len(features)
    use_tree = _is_tree_model(estimator)
    limit = int(thresholds.get("max_samples_tree" if use_tree else "max_samples_model_agnostic",
                               2000 if use_tree else 200))
    sample_size = min(rows, limit)
    chosen = np.sort(rng.choice(rows, size=sample_size, replace=False))
    sample = features.iloc[chosen] if hasattr(features, "iloc") else features[chosen]
    additivity_error = None
    started = time.perf_counter()
    if use_tree:
        inputs = preprocessing.transform(sample) if preprocessing is not None else sample
        explainer = shap.TreeExplainer(estimator)
        try:
            raw = explainer.shap_values(inputs, check_additivity=True)
        except Exception as exc:  # shap raises a bare Exception on additivity failure
            if "additivity" not in str(exc).lower():
                raise
            additivity_error = str(exc)
            raw = explainer.shap_values(inputs, check_additivity=False)
        values = _positive_class_output(raw, positive_index)
        expected = np.asarray(explainer.expected_value).ravel()
        base_value = float(expected[positive_index] if expected.size > 1 else expected[0])
        explained_inputs = np.asarray(inputs, dtype=float)
        explainer_name = "TreeExplainer"
        names = list(feature_names) if preprocessing is None else _output_names(preprocessing, feature_names, values)
        output_space = "raw model output (log-odds for gradient boosting)"
        max_error = None
    else:
        background_size = min(rows, int(thresholds.get("background_samples", 100)))
        background_rows = np.sort(rng.choice(rows, size=background_size, replace=False))
        background = features.iloc[background_rows] if hasattr(features, "iloc") else features[background_rows]

        def positive_probability(data):
            if hasattr(features, "columns") and not hasattr(data, "columns"):
                import pandas as pd

                data = pd.DataFrame(data, columns=features.columns)
            return np.asarray(model.predict_proba(data))[:, positive_index]

        masker = shap.maskers.Independent(np.asarray(background, dtype=float), max_samples=background_size)
        n_features = np.asarray(sample).shape[1]
        # Exact Shapley values are affordable for few features; beyond that, permutation sampling.
        if n_features <= int(thresholds.get("exact_max_features", 10)):
            explainer, explainer_name = shap.explainers.Exact(positive_probability, masker), "ExactExplainer"
        else:
            explainer = shap.explainers.Permutation(positive_probability, masker, seed=seed)
            explainer_name = "PermutationExplainer"
        candidates = np.asarray(features.iloc[chosen] if hasattr(features, "iloc") else features[chosen], dtype=float)
        # The first call compiles shap's numba kernels (seconds, whatever the rows): explain one row
        # untimed, time a small probe batch, then explain as many more rows as the rest of the time
        # budget allows. Timing the compilation would shrink the sample to the probe.
        explanations = [explainer(candidates[:1])]
        probe = min(len(candidates), 11)
        probe_started = time.perf_counter()
        if probe > 1:
            explanations.append(explainer(candidates[1:probe]))
        per_row = max((time.perf_counter() - probe_started) / max(probe - 1, 1), 1e-6)
        budget_left = float(thresholds.get("time_budget_seconds", 30)) - (time.perf_counter() - started)
        sample_size = max(probe, min(len(candidates), probe + int(max(budget_left, 0.0) / per_row)))
        if sample_size > probe:
            explanations.append(explainer(candidates[probe:sample_size]))
        sample = candidates[:sample_size]
        values = np.concatenate([np.asarray(item.values) for item in explanations])
        base = np.concatenate([np.asarray(item.base_values).ravel() for item in explanations])
        base_value = float(base.mean())
        predicted = positive_probability(sample)
        max_error = float(np.max(np.abs(base + values.sum(axis=1) - predicted)))
        tolerance = float(thresholds.get("additivity_tolerance", 1e-6))
        if max_error > tolerance:
            additivity_error = f"max |base + sum(SHAP) - f(x)| = {max_error:.3g} exceeds {tolerance}"
        explained_inputs = sample
        names = list(feature_names)
        output_space = "probability of the positive class"
    seconds = time.perf_counter() - started
    importance = np.abs(values).mean(axis=0)
    order = np.argsort(-importance)
    ranking = [{"feature": names[index], "mean_abs_shap": float(importance[index])} for index in order]

    def beeswarm():
        shap.summary_plot(values, explained_inputs, feature_names=names, show=False, rng=np.random.default_rng(seed))

    def bar():
        shap.summary_plot(values, explained_inputs, feature_names=names, plot_type="bar", show=False)

    return {
        "explainer": explainer_name,
        "explained_estimator": f"{type(estimator).__module__}.{type(estimator).__name__}",
        "pipeline_unwrapped": preprocessing is not None and use_tree,
        "output_space": output_space,
        "base_value": base_value,
        "global_importance": ranking,
        "sample_size": sample_size,
        "rows_available": rows,
        "shap_seconds": seconds,
        "additivity_ok": additivity_error is None,
        "additivity_error": additivity_error,
        "max_additivity_error": max_error,
        "plots": {"beeswarm": _figure_png(beeswarm), "bar": _figure_png(bar)},
    }


def _output_names(preprocessing, feature_names: list[str], values) -> list[str]:
    try:
        names = [str(name) for name in preprocessing.get_feature_names_out(feature_names)]
    except Exception:  # noqa: BLE001 - not every transformer can name its outputs
        names = []
    if len(names) != np.asarray(values).shape[1]:
        names = list(feature_names) if len(feature_names) == np.asarray(values).shape[1] else [
            f"x{index}" for index in range(np.asarray(values).shape[1])
        ]
    return names
