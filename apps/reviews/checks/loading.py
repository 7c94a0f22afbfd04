"""Loading models and evaluation tables safely: skops with Docket's allow-list, ONNX through onnxruntime.

Nothing here ever unpickles: skops reads its own zip format and refuses (before building any object)
every type outside the allow-list; anything that is neither a skops zip nor an ONNX model is refused.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass

import numpy as np


class UnsafeArtifact(Exception):
    """The artifact is not in a format Docket can load without running code chosen by its author."""


def load_model(path: str, artifact_format: str, trusted_types: list[str]):
    """Returns a model exposing `predict` (and `predict_proba` when it has one)."""
    if artifact_format == "skops":
        return _load_skops(path, trusted_types)
    if artifact_format == "onnx":
        return OnnxClassifier(path)
    raise UnsafeArtifact(f"Artifacts in format {artifact_format!r} are never loaded; only skops and ONNX are.")


def _load_skops(path: str, trusted_types: list[str]):
    import skops.io

    if not zipfile.is_zipfile(path):
        raise UnsafeArtifact("The artifact is not a skops file (not a zip archive); it was not loaded.")
    with zipfile.ZipFile(path) as archive:
        if "schema.json" not in archive.namelist():
            raise UnsafeArtifact("The artifact is a zip without schema.json, so not a skops file; it was not loaded.")
    untrusted = skops.io.get_untrusted_types(file=path)
    refused = sorted(set(untrusted) - set(trusted_types))
    if refused:
        raise UnsafeArtifact(
            f"The skops file holds types outside Docket's allow-list: {', '.join(refused)}; it was not loaded."
        )
    return skops.io.load(path, trusted=untrusted)


class OnnxClassifier:
    """A classifier over an onnxruntime session: first output = labels, second (if any) = probabilities."""

    def __init__(self, path: str):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [output.name for output in self.session.get_outputs()]

    def _run(self, features):
        return self.session.run(None, {self.input_name: np.asarray(features, dtype=np.float32)})

    def predict(self, features):
        return np.asarray(self._run(features)[0]).ravel()

    def predict_proba(self, features):
        outputs = self._run(features)
        if len(outputs) < 2:
            raise AttributeError("This ONNX model has no probability output.")
        probabilities = outputs[1]
        if isinstance(probabilities, list) and probabilities and isinstance(probabilities[0], dict):
            labels = sorted(probabilities[0])
            self.classes_ = np.array(labels)
            return np.array([[row[label] for label in labels] for row in probabilities], dtype=float)
        return np.asarray(probabilities, dtype=float)


def read_table(path: str, file_format: str):
    import pandas as pd

    if file_format == "parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path)


@dataclass
class Evaluation:
    """Features, labels and predictions of one model on one evaluation table."""

    table: object
    features: object
    y_true: np.ndarray
    y_pred: np.ndarray
    scores: np.ndarray | None


def is_positive(values, positive_label) -> np.ndarray:
    """Boolean array: which values equal the positive label (numbers compared as numbers)."""
    array = np.asarray(values)
    if isinstance(positive_label, (int, float)) and not isinstance(positive_label, bool):
        try:
            return array.astype(float) == float(positive_label)
        except (TypeError, ValueError):
            pass
    return np.array([str(value) for value in array]) == str(positive_label)


def feature_frame(model, table, features: list[str]):
    """The model's input: a DataFrame when the model knows its feature names, else a float array."""
    names = list(features) or list(getattr(model, "feature_names_in_", []))
    if not names:
        raise ValueError("The model version declares no features and the model does not name its inputs.")
    missing = [name for name in names if name not in table.columns]
    if missing:
        raise ValueError(f"The evaluation data lacks the model's feature columns: {', '.join(missing)}.")
    frame = table[names]
    if hasattr(model, "feature_names_in_"):
        return frame
    return frame.to_numpy(dtype=float)


def positive_scores(model, features, positive_label) -> np.ndarray | None:
    """Probability of the positive class, or None when the model gives no probabilities."""
    try:
        probabilities = np.asarray(model.predict_proba(features))
    except AttributeError:
        return None
    classes = list(getattr(model, "classes_", range(probabilities.shape[1])))
    matches = [index for index, label in enumerate(classes) if is_positive([label], positive_label)[0]]
    column = matches[0] if matches else probabilities.shape[1] - 1
    return probabilities[:, column]


def evaluate(model, table, *, features: list[str], label_column: str, positive_label) -> Evaluation:
    if label_column not in table.columns:
        raise ValueError(f"The evaluation data has no label column {label_column!r}.")
    inputs = feature_frame(model, table, features)
    y_true = is_positive(table[label_column].to_numpy(), positive_label)
    y_pred = is_positive(model.predict(inputs), positive_label)
    return Evaluation(table, inputs, y_true, y_pred, positive_scores(model, inputs, positive_label))
