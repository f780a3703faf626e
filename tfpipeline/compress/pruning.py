"""TFMOT magnitude pruning as paired verbs, and the sparsity measured afterwards."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tfpipeline._keras import keras
from tfpipeline._model_check import takes_tf_keras_model
from tfpipeline.compress._layers import (
    is_skipped,
    layers_to_wrap,
    per_layer,
    weight_matrices,
    wrap_layers,
)
from tfpipeline.config.pruning import PruningSchedule
from tfpipeline.errors import UnsupportedModelError

# Sparsity rises in this many steps: small ones let the weights adapt (TFMOT's default of one
# every 100 optimizer steps gave a few abrupt jumps on small data sets and lost accuracy).
PRUNING_UPDATES = 20


@takes_tf_keras_model(bridge=True, stage="apply_pruning")
def apply_pruning(
    model: keras.Model,
    pruning_schedule: PruningSchedule | float | None = None,
    *,
    xnnpack: bool = False,
    skip_layers: Sequence[str] = (),
    **schedule_fields: Any,
) -> tuple[keras.Model, list[keras.callbacks.Callback]]:
    """Wraps a copy of `model`'s prunable layers for magnitude pruning.

    The schedule says when and how far (see `PruningSchedule`), given whole or as its
    fields: `apply_pruning(model, PruningSchedule(0.75, end_step=500))`,
    `apply_pruning(model, 0.75, end_step=500)` and
    `apply_pruning(model, sparsity=0.75, end_step=500)` are the same. Sparsity rises in
    about `PRUNING_UPDATES` increments.

    Args:
        model: a tf_keras model; it is not modified.
        pruning_schedule: the `PruningSchedule`, or its `sparsity` alone (the other fields
            then come as keywords). Defaults to `None` (every field comes as a keyword).
        xnnpack: prune only the layers XNNPACK's sparse inference speeds up (1x1
            convolutions after a 3x3 stride-2 stem; TFMOT's `PruneForLatencyOnXNNPack`).
            Defaults to `False`.
        skip_layers: layer names or class names to leave dense. Defaults to none.
        **schedule_fields: the `PruningSchedule` fields (`sparsity`, `end_step`,
            `initial_sparsity`, `begin_step`, `schedule`, `sparsity_m_by_n`) when
            `pruning_schedule` is not a `PruningSchedule`.

    Returns:
        `(wrapped_model, callbacks)`: fit the wrapped model with these callbacks, or pruning
        does nothing.

    Raises:
        UnsupportedModelError: if `model` is not a tf_keras model, has a layer TFMOT cannot
            prune (named, with the option that skips it), or does not suit the XNNPACK
            policy.
        TypeError: for a `PruningSchedule` given with schedule fields too, or an unknown or
            missing field.
        ValueError: if a schedule field is out of range.
    """
    import tensorflow_model_optimization as tfmot

    schedule = _as_schedule(pruning_schedule, schedule_fields)
    sparsity_api = tfmot.sparsity.keras
    if xnnpack:
        names = _xnnpack_layers(model, sparsity_api.PruneForLatencyOnXNNPack(), skip_layers)
    else:
        names = layers_to_wrap(model, supports_pruning, skip_layers, "pruned", "skip_layers")
    options = {"pruning_schedule": _tfmot_schedule(schedule)}
    if schedule.sparsity_m_by_n:
        options["sparsity_m_by_n"] = schedule.sparsity_m_by_n
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


def supports_pruning(layer: keras.layers.Layer) -> bool:
    """Whether TFMOT can prune `layer`'s weights."""
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


def _as_schedule(
    pruning_schedule: PruningSchedule | float | None, fields: dict[str, Any]
) -> PruningSchedule:
    if isinstance(pruning_schedule, PruningSchedule):
        if fields:
            raise TypeError(
                "Give `pruning_schedule` as a PruningSchedule or as its fields, not both. "
                f"Received a PruningSchedule and: {', '.join(fields)}"
            )
        return pruning_schedule
    if pruning_schedule is None:
        return PruningSchedule(**fields)
    return PruningSchedule(pruning_schedule, **fields)


def _tfmot_schedule(schedule: PruningSchedule):
    """TFMOT's schedule object for `schedule`, updating the masks in `PRUNING_UPDATES` steps."""
    import tensorflow_model_optimization as tfmot

    sparsity_api = tfmot.sparsity.keras
    begin, end = schedule.begin_step, schedule.end_step
    frequency = max(1, (end - begin) // PRUNING_UPDATES)
    if schedule.schedule == "polynomial":
        return sparsity_api.PolynomialDecay(
            schedule.initial_sparsity, schedule.sparsity, begin, end, frequency=frequency
        )
    return sparsity_api.ConstantSparsity(schedule.sparsity, begin, frequency=frequency)
