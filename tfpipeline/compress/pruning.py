"""TFMOT magnitude pruning as paired verbs, and the sparsity measured afterwards."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tfpipeline._keras import keras, require_tf_keras_model
from tfpipeline.compress._layers import (
    is_skipped,
    layers_to_wrap,
    per_layer,
    weight_matrices,
    wrap_layers,
)
from tfpipeline.errors import UnsupportedModelError

# Sparsity rises in this many steps: small ones let the weights adapt (TFMOT's default of one
# every 100 optimizer steps gave a few abrupt jumps on small data sets and lost accuracy).
PRUNING_UPDATES = 20

PRUNING_SCHEDULES = ("polynomial", "constant")


def apply_pruning(
    model: keras.Model,
    sparsity: float,
    end_step: int,
    *,
    initial_sparsity: float = 0.0,
    begin_step: int = 0,
    schedule: str = "polynomial",
    sparsity_m_by_n: Sequence[int] | None = None,
    xnnpack: bool = False,
    skip_layers: Sequence[str] = (),
) -> tuple[keras.Model, list[keras.callbacks.Callback]]:
    """Wraps a copy of `model`'s prunable layers for magnitude pruning.

    With the `polynomial` schedule (TFMOT's `PolynomialDecay`) sparsity rises from
    `initial_sparsity` to `sparsity` between `begin_step` and `end_step`, in about
    `PRUNING_UPDATES` increments; with `constant` (`ConstantSparsity`) it is `sparsity`
    from `begin_step` on.

    Args:
        model: a tf_keras model; it is not modified.
        sparsity: the final fraction of zero weights in each pruned kernel, in (0, 1).
        end_step: the optimizer step at which the final sparsity is reached, > `begin_step`.
        initial_sparsity: the sparsity the polynomial schedule starts from, in [0, sparsity).
            Defaults to `0.0`.
        begin_step: the optimizer step at which pruning starts, >= 0. Defaults to `0`.
        schedule: `polynomial` or `constant`. Defaults to `"polynomial"`.
        sparsity_m_by_n: `(m, n)` for structured sparsity: m zeros in every n consecutive
            input weights (`(2, 4)` is the 2:4 pattern sparse hardware runs fast); the
            sparsity is then m/n whatever `sparsity` says. Defaults to `None`.
        xnnpack: prune only the layers XNNPACK's sparse inference speeds up (1x1
            convolutions after a 3x3 stride-2 stem; TFMOT's `PruneForLatencyOnXNNPack`).
            Defaults to `False`.
        skip_layers: layer names or class names to leave dense. Defaults to none.

    Returns:
        `(wrapped_model, callbacks)`: fit the wrapped model with these callbacks, or pruning
        does nothing.

    Raises:
        UnsupportedModelError: if `model` is not a tf_keras model, has a layer TFMOT cannot
            prune (named, with the option that skips it), or does not suit the XNNPACK
            policy.
        ValueError: if an argument is out of range.
    """
    import tensorflow_model_optimization as tfmot

    model = require_tf_keras_model(model, "apply_pruning", bridge=True)
    sparsity_api = tfmot.sparsity.keras
    _check_pruning_arguments(sparsity, initial_sparsity, schedule, sparsity_m_by_n)
    if not 0 <= begin_step < end_step:
        raise ValueError(
            "Arguments `begin_step` and `end_step` must satisfy 0 <= begin_step < end_step. "
            f"Received: begin_step={begin_step}, end_step={end_step}"
        )
    frequency = max(1, (end_step - begin_step) // PRUNING_UPDATES)
    if schedule == "polynomial":
        pruning_schedule = sparsity_api.PolynomialDecay(
            initial_sparsity, sparsity, begin_step, end_step, frequency=frequency
        )
    else:
        pruning_schedule = sparsity_api.ConstantSparsity(sparsity, begin_step, frequency=frequency)
    if xnnpack:
        names = _xnnpack_layers(model, sparsity_api.PruneForLatencyOnXNNPack(), skip_layers)
    else:
        names = layers_to_wrap(model, _supports_pruning, skip_layers, "pruned", "skip_layers")
    options = {"pruning_schedule": pruning_schedule}
    if sparsity_m_by_n:
        options["sparsity_m_by_n"] = tuple(sparsity_m_by_n)
    wrapped = wrap_layers(
        model, names, lambda layer: sparsity_api.prune_low_magnitude(layer, **options)
    )
    return wrapped, [sparsity_api.UpdatePruningStep()]


def strip_pruning(model: keras.Model) -> keras.Model:
    """Removes the pruning wrappers, leaving plain layers whose kernels hold the zeros."""
    import tensorflow_model_optimization as tfmot

    return tfmot.sparsity.keras.strip_pruning(model)


def kernel_sparsity(model: keras.Model) -> dict[str, float]:
    """Returns the fraction of exact zeros in each layer's kernels, by layer name.

    Layers without a kernel (two or more axes) are left out.
    """
    return per_layer(
        model, lambda ms: float(sum(np.sum(m == 0) for m in ms) / sum(m.size for m in ms))
    )


def overall_sparsity(model: keras.Model) -> float:
    """Returns the fraction of exact zeros over all kernels of the model together."""
    matrices = [m for layer in model.layers for m in weight_matrices(layer)]
    total = sum(m.size for m in matrices)
    return float(sum(np.sum(m == 0) for m in matrices) / total) if total else 0.0


def _supports_pruning(layer: keras.layers.Layer) -> bool:
    import tensorflow_model_optimization as tfmot
    from tensorflow_model_optimization.python.core.sparsity.keras.prune_registry import (
        PruneRegistry,
    )

    custom = isinstance(layer, tfmot.sparsity.keras.PrunableLayer) or hasattr(
        layer, "get_prunable_weights"
    )
    return custom or PruneRegistry.supports(layer)


def _xnnpack_layers(model: keras.Model, policy, skip_layers: Sequence[str]) -> set[str]:
    try:
        policy.ensure_model_supports_pruning(model)
    except ValueError as exc:
        raise UnsupportedModelError(
            f"The XNNPACK pruning policy does not suit model {model.name!r}: {exc} It is meant "
            "for convolutional networks with a 3x3 stride-2 first convolution followed by 1x1 "
            "convolutions; turn `xnnpack` off for other models."
        ) from None
    names = {
        layer.name
        for layer in model.layers
        if policy.allow_pruning(layer) and not is_skipped(layer, skip_layers)
    }
    if not names:
        raise UnsupportedModelError(
            f"The XNNPACK pruning policy finds no 1x1 convolution to prune in {model.name!r}."
        )
    return names


def _check_pruning_arguments(
    sparsity: float,
    initial_sparsity: float,
    schedule: str,
    sparsity_m_by_n: Sequence[int] | None,
) -> None:
    if not 0 < sparsity < 1:
        raise ValueError(f"Argument `sparsity` must be in (0, 1). Received: sparsity={sparsity}")
    if not 0 <= initial_sparsity < sparsity:
        raise ValueError(
            "Argument `initial_sparsity` must be >= 0 and below `sparsity` "
            f"({sparsity}). Received: initial_sparsity={initial_sparsity}"
        )
    if schedule not in PRUNING_SCHEDULES:
        raise ValueError(
            f"Argument `schedule` must be one of {', '.join(PRUNING_SCHEDULES)}. "
            f"Received: schedule={schedule!r}"
        )
    if sparsity_m_by_n is not None:
        m_n = list(sparsity_m_by_n)
        if len(m_n) != 2 or not all(isinstance(v, int) for v in m_n) or not 0 < m_n[0] < m_n[1]:
            raise ValueError(
                "Argument `sparsity_m_by_n` must be two integers [m, n] with 0 < m < n, "
                f"such as [2, 4]. Received: sparsity_m_by_n={sparsity_m_by_n!r}"
            )
