"""Which inputs a model's output depends on: gradient saliency and integrated gradients.

Both differentiate the model's output with respect to its **raw** input: a tfpipeline model
starts with its normalization layer, so an attribution belongs to a pixel or a feature as an
app passes it, not to its normalized value.

- `saliency`: |d output / d input| at the sample itself, one value per input value. Cheap
  (one gradient), but local: it says how sensitive the output is there, not how much the
  input contributed (a saturated softmax has near-zero gradients everywhere).
- `integrated_gradients` (Sundararajan, Taly and Yan, "Axiomatic Attribution for Deep
  Networks", 2017): the gradients averaged along the straight path from a baseline input to
  the sample, times (sample - baseline). Its attributions add up to the change of the
  output between the baseline and the sample ("completeness"), so each is a share of that
  change, in the output's units.
- `feature_attributions`: for tabular data, each named feature's mean |integrated
  gradient| over many rows, largest first.

"Output" is the model's output for one class: its probability for a softmax model (the
predicted class unless `class_index` names another), or the single output of a model with
one (a regression's prediction, a sigmoid's probability).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tfpipeline._keras import keras, tf

# Input values one gradient call holds at most (about 16 MiB of float32): larger work, such
# as many samples times the integration steps, is cut into chunks of samples.
_CHUNK_VALUES = 1 << 22


def saliency(model: keras.Model, x: Any, class_index: Any = None) -> np.ndarray:
    """|∂ output / ∂ input| for each input value (gradient saliency).

    Args:
        model: a model with one input and one output of shape `(samples, outputs)`; it is
            called on the raw input, so gradients are with respect to raw values.
        x: one sample (the model's input shape without the batch axis) or a batch of them.
        class_index: which output to differentiate: `None` for each sample's predicted
            class (the model's single output when it has one), an integer for that output
            on every sample, or one integer per sample (for example the true labels).
            Defaults to `None`.

    Returns:
        float32 array of the shape of `x`: the absolute gradient of the chosen output.

    Raises:
        ValueError: for a model without exactly one input and one output, an `x` whose
            shape does not fit the model's input or that holds values that are not finite,
            or a `class_index` out of range.
    """
    batch, single = _as_batch(model, x)
    targets = _targets(model, batch, class_index)
    gradients = np.concatenate(
        [
            _gradients(model, batch[rows], targets[rows])
            for rows in _chunks(len(batch), _CHUNK_VALUES // max(1, _values(batch)))
        ]
    )
    gradients = np.abs(gradients)
    return gradients[0] if single else gradients


def integrated_gradients(
    model: keras.Model,
    x: Any,
    baseline: Any = None,
    steps: int = 32,
    class_index: Any = None,
) -> np.ndarray:
    """Integrated gradients of the chosen output, one attribution per input value.

    The gradients of the output are averaged at `steps + 1` points evenly spaced from
    `baseline` to `x` (trapezoidal rule) and multiplied by `x - baseline`. The attributions
    of one sample add up to `output(x) - output(baseline)` up to the integration error,
    which falls as `steps` grows (measured on tfpipeline's digits and wine models, outputs
    changing by 0.6-0.9: median 0.003, at most 0.02 at 32 steps; 64 steps about halve
    it); a positive attribution pushed the output up from the baseline's.

    Args:
        model: as for `saliency`.
        x: one sample or a batch of them (raw values).
        baseline: the input that stands for "no information", of the shape of one sample,
            of `x`, or a number. `None` takes the mean subtracted by the model's input
            normalization layer (for a model tfpipeline built with `standardize`
            normalization: the training split's mean, the "average row"), or zeros for a
            model without one (images: a black image). Defaults to `None`.
        steps: integration steps (the path is evaluated at `steps + 1` points). Defaults
            to `32`.
        class_index: as for `saliency`; `None` is the class predicted at `x`. Defaults to
            `None`.

    Returns:
        float32 array of the shape of `x`, in the units of the chosen output.

    Raises:
        ValueError: as for `saliency`; also for `steps` < 1 or a `baseline` whose shape
            does not fit `x`.
    """
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
        raise ValueError(f"Argument `steps` must be an integer >= 1. Received: steps={steps!r}")
    batch, single = _as_batch(model, x)
    base = _baseline(model, batch, baseline)
    targets = _targets(model, batch, class_index)
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)
    weights = np.full(steps + 1, 1.0 / steps, dtype=np.float32)
    weights[[0, -1]] /= 2  # trapezoidal rule
    shape = (steps + 1, -1, *batch.shape[1:])
    attributions = np.empty_like(batch)
    per_chunk = _CHUNK_VALUES // max(1, (steps + 1) * _values(batch))
    for rows in _chunks(len(batch), per_chunk):
        delta = batch[rows] - base[rows]
        path = base[rows][None] + alphas.reshape(-1, *[1] * batch.ndim) * delta[None]
        gradients = _gradients(
            model, path.reshape(-1, *batch.shape[1:]), np.tile(targets[rows], steps + 1)
        ).reshape(shape)
        attributions[rows] = delta * np.tensordot(weights, gradients, axes=1)
    return attributions[0] if single else attributions


def feature_attributions(
    model: keras.Model,
    x: Any,
    feature_names: Sequence[str],
    baseline: Any = None,
    steps: int = 32,
    class_index: Any = None,
) -> list[tuple[str, float]]:
    """Each named feature's mean |integrated gradient| over the rows of `x`, largest first.

    A feature's figure is how much, on average, it moves the chosen output (probability of
    the predicted class, or the prediction) away from the baseline's, in either direction.
    It says what the model relies on, not what causes the label.

    Args:
        model: a model taking feature vectors (see `saliency`).
        x: rows of raw features, shape `(samples, features)`.
        feature_names: the name of each feature, in input order (`PreparedData
            .feature_names`).
        baseline: as for `integrated_gradients`.
        steps: as for `integrated_gradients`.
        class_index: as for `integrated_gradients`.

    Returns:
        `(name, mean |attribution|)` pairs, sorted from the largest (ties in input order).

    Raises:
        ValueError: for `x` that is not a non-empty 2-D array of rows, names that do not
            match its columns, or as for `integrated_gradients`.
    """
    x = np.asarray(x)
    names = [str(name) for name in feature_names]
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(
            "Argument `x` must be rows of features, shape (samples, features), with at "
            f"least one row. Received: x.shape={x.shape}"
        )
    if len(names) != x.shape[1]:
        raise ValueError(
            f"Argument `feature_names` must name each of the {x.shape[1]} columns of `x`. "
            f"Received: {len(names)} names"
        )
    attributions = integrated_gradients(model, x, baseline, steps, class_index)
    means = np.mean(np.abs(attributions), axis=0)
    order = np.argsort(-means, kind="stable")
    return [(names[i], float(means[i])) for i in order]


def input_mean(model: keras.Model) -> np.ndarray | None:
    """The mean the model's first layer subtracts when it is a `Normalization` layer (for a
    model tfpipeline built with `standardize`: the training split's mean), else `None`."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        layer = getattr(layer, "layer", layer)  # a quantization-aware wrapper
        mean = getattr(layer, "mean", None)
        if isinstance(layer, keras.layers.Normalization) and mean is not None:
            return np.asarray(mean, dtype=np.float32)
        return None
    return None


def _as_batch(model: keras.Model, x: Any) -> tuple[np.ndarray, bool]:
    """`x` as a float32 batch fitting the model's input, and whether it was one sample."""
    inputs, outputs = getattr(model, "inputs", None), getattr(model, "outputs", None)
    if not inputs or len(inputs) != 1 or not outputs or len(outputs) != 1:
        raise ValueError(
            "Argument `model` must be a built Keras model with one input and one output. "
            f"Received: {len(inputs or [])} inputs and {len(outputs or [])} outputs"
        )
    if len(outputs[0].shape) != 2:
        raise ValueError(
            "Argument `model` must output one vector per sample, shape (samples, outputs). "
            f"Received: output shape {tuple(outputs[0].shape)}"
        )
    try:
        batch = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError(
            f"Argument `x` must be numbers. Received: x of type {type(x).__name__}"
        ) from None
    sample = tuple(inputs[0].shape[1:])
    single = batch.ndim == len(sample)
    if single:
        batch = batch[None]
    fits = batch.ndim == len(sample) + 1 and all(
        want is None or want == got for want, got in zip(sample, batch.shape[1:], strict=True)
    )
    if not fits or len(batch) == 0:
        raise ValueError(
            f"Argument `x` must be one sample of shape {sample} or a non-empty batch of them, "
            f"shape {(None, *sample)}, as the model's input. Received: x.shape={np.shape(x)}"
        )
    if not np.all(np.isfinite(batch)):
        raise ValueError("Argument `x` must hold finite values. Received: NaN or inf in x")
    return batch, single


def _targets(model: keras.Model, batch: np.ndarray, class_index: Any) -> np.ndarray:
    """One output index per sample: `class_index`, or the predicted class."""
    width = int(model.outputs[0].shape[-1])
    if class_index is None:
        if width == 1:
            return np.zeros(len(batch), dtype=np.int64)
        outputs = np.concatenate(
            [
                np.asarray(model(batch[rows], training=False))
                for rows in _chunks(len(batch), _CHUNK_VALUES // max(1, _values(batch)))
            ]
        )
        return np.argmax(outputs, axis=1)
    index = np.asarray(class_index)
    whole = index.dtype.kind in "iu" or (
        index.dtype.kind == "f" and np.all(np.isfinite(index)) and np.all(index == np.round(index))
    )
    if (
        not whole
        or index.ndim > 1
        or (index.ndim == 1 and len(index) != len(batch))
        or np.any(index < 0)
        or np.any(index >= width)
    ):
        what = "0 (its single output)" if width == 1 else f"a class index from 0 to {width - 1}"
        raise ValueError(
            f"Argument `class_index` must be None, {what}, or one such index per sample "
            f"({len(batch)}). Received: class_index={class_index!r}"
        )
    return np.broadcast_to(index.astype(np.int64), (len(batch),)).copy()


def _baseline(model: keras.Model, batch: np.ndarray, baseline: Any) -> np.ndarray:
    if baseline is None:
        mean = input_mean(model)
        baseline = 0.0 if mean is None else mean
    values = np.asarray(baseline, dtype=np.float32)
    if values.ndim == batch.ndim - 1:
        values = values[None]
    try:
        return np.broadcast_to(values, batch.shape)
    except ValueError:
        raise ValueError(
            "Argument `baseline` must be a number, one sample or one per sample of `x`. "
            f"Received: baseline.shape={np.shape(baseline)} for x of shape {batch.shape}"
        ) from None


def _gradients(model: keras.Model, inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """d output[i, targets[i]] / d inputs[i], for each row `i` (rows do not interact: the
    model runs in inference mode)."""
    tensor = tf.convert_to_tensor(inputs, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        outputs = tf.cast(model(tensor, training=False), tf.float32)
        chosen = tf.gather(outputs, targets, axis=1, batch_dims=1)
    gradients = tape.gradient(chosen, tensor)
    if gradients is None:  # the output does not depend on the input at all
        return np.zeros_like(inputs)
    return gradients.numpy()


def _values(batch: np.ndarray) -> int:
    return int(np.prod(batch.shape[1:]))


def _chunks(count: int, size: int) -> list[slice]:
    size = max(1, size)
    return [slice(start, min(start + size, count)) for start in range(0, count, size)]
