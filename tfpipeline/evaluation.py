"""Evaluation on the test split: scores, per-class precision, recall, F1, the confusion
matrix, and the classical baseline every model is judged against."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def score(outputs: np.ndarray, y: np.ndarray, task: str) -> dict[str, float]:
    """Scores model outputs against labels: top-1 accuracy, or the targets' MAE, MSE, RMSE
    and R² (1 - MSE / the targets' variance: 0 for predicting their mean)."""
    if task == "classification":
        return {"accuracy": float(np.mean(np.argmax(outputs, axis=1) == y))}
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    error = np.asarray(outputs, dtype=np.float64).reshape(-1) - y
    mse = float(np.mean(np.square(error)))
    variance = float(np.var(y))
    return {
        "mae": float(np.mean(np.abs(error))),
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "r2": 1.0 - mse / variance if variance > 0 else 0.0,
    }


def baseline_scores(
    y_train: np.ndarray, y_test: np.ndarray, task: str, class_names: Sequence[str] = ()
) -> dict[str, Any]:
    """Scores the classical baseline on the test split, fitted on the training split.

    Regression: the mean predictor (always the training mean): `mae`, `mse`, `rmse`, `r2`.
    Classification: the most frequent training class, always: `accuracy`.
    """
    if task == "regression":
        mean = float(np.mean(np.asarray(y_train, dtype=np.float64)))
        outputs = np.full(len(y_test), mean)
        return {"kind": "mean predictor", "value": mean, **score(outputs, y_test, task)}
    top = int(np.argmax(np.bincount(y_train, minlength=len(class_names) or None)))
    return {
        "kind": "most frequent class",
        "value": class_names[top] if class_names else top,
        "accuracy": float(np.mean(np.asarray(y_test) == top)),
    }


# The regularization strengths the text baseline chooses from, on the validation split.
TEXT_BASELINE_C = (0.1, 1.0, 10.0)


def text_baseline_scores(
    texts: dict[str, np.ndarray], y: dict[str, np.ndarray], lowercase: bool = True
) -> dict[str, Any]:
    """Scores the classical text baseline on the test split: TF-IDF of words and word pairs
    (split as the model's tokenizer splits them, every training word kept) and a logistic
    regression (scikit-learn), fitted on the training split; its regularization strength is
    chosen on the validation split (the middle one without a validation split).

    Args:
        texts: the texts of `train`, `val` and `test`.
        y: their class indices, by split alike.
        lowercase: lower-case as the tokenizer does. Defaults to `True`.

    Returns:
        `kind`, `value` (the setting chosen, in words), `accuracy` (test) and
        `val_accuracy` (or `None`).
    """
    import functools

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    from tfpipeline.tokenizer import words

    vectorizer = TfidfVectorizer(
        tokenizer=functools.partial(words, lowercase=lowercase),
        lowercase=False,
        token_pattern=None,
        ngram_range=(1, 2),
        sublinear_tf=True,
    )
    x = {"train": vectorizer.fit_transform(texts["train"])}
    x.update({s: vectorizer.transform(texts[s]) for s in ("val", "test") if len(texts[s])})
    best = (-1.0, TEXT_BASELINE_C[1], None)
    # One BLAS thread: each L-BFGS step is a few small vector operations, which a BLAS
    # thread pool slows down many times over on busy cores (measured: 16 s instead of 0.5 s
    # for 900 short texts on two shared cores).
    with threadpool_limits(limits=1, user_api="blas"):
        for c in TEXT_BASELINE_C if "val" in x else TEXT_BASELINE_C[1:2]:
            fitted = LogisticRegression(C=c, max_iter=2000).fit(x["train"], y["train"])
            val = float(fitted.score(x["val"], y["val"])) if "val" in x else -1.0
            if val > best[0]:
                best = (val, c, fitted)
    val, c, fitted = best
    return {
        "kind": "TF-IDF + logistic regression",
        "value": f"word 1-2-grams ({len(vectorizer.vocabulary_):,}), C={c:g}",
        "accuracy": float(fitted.score(x["test"], y["test"])),
        "val_accuracy": val if val >= 0 else None,
    }


def classification_report(
    outputs: np.ndarray, y: np.ndarray, class_names: Sequence[str]
) -> dict[str, Any]:
    """Scores class probabilities against labels (scikit-learn's metrics).

    Args:
        outputs: the model's class probabilities, shape `(samples, classes)`.
        y: the true class indices.
        class_names: the name of each class index.

    Returns:
        `accuracy`, `loss` (mean cross-entropy), `per_class` (name -> precision, recall, f1,
        support), `macro_f1` and `confusion_matrix` (rows: true class, columns: predicted
        class, in index order).
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = list(range(len(class_names)))
    predicted = np.argmax(outputs, axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        y, predicted, labels=labels, zero_division=0
    )
    per_class = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(class_names)
    }
    true_probability = outputs[np.arange(len(y)), y]
    return {
        "accuracy": float(np.mean(predicted == y)),
        "loss": float(np.mean(-np.log(np.clip(true_probability, 1e-7, 1.0)))),
        "macro_f1": float(np.mean(f1)),
        "per_class": per_class,
        "class_names": list(class_names),
        "confusion_matrix": confusion_matrix(y, predicted, labels=labels).tolist(),
    }


def plot_confusion_matrix(report: dict[str, Any], path: str | Path) -> Path:
    """Draws the report's confusion matrix as a PNG (written atomically)."""
    from tfpipeline import _figures
    from tfpipeline._atomic import file_atomic

    matrix = np.asarray(report["confusion_matrix"])
    names = report["class_names"]
    size = min(12, 2 + 0.5 * len(names))
    fig, ax = _figures.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Test split: accuracy {report['accuracy']:.3f}")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, col), count in np.ndenumerate(matrix):
        colour = "white" if count > threshold else "black"
        ax.text(col, row, str(count), ha="center", va="center", color=colour, fontsize=8)
    fig.tight_layout()
    with file_atomic(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return Path(path)
