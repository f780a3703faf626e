"""Compression stage: TFMOT magnitude pruning, as paired verbs and a fine-tuning step.

TFMOT refuses layers it does not know (a `Normalization` layer among them), so only the
prunable layers are wrapped. The trained model is copied first: wrapping shares layers, and
fine-tuning must not change the model it started from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tfpipeline._keras import keras, require_tf_keras_model
from tfpipeline.config import PruneConfig, TrainConfig
from tfpipeline.data import PreparedData
from tfpipeline.training import TrainResult, train

# Layers whose kernels are pruned; the rest are kept as they are.
PRUNABLE_LAYERS = (keras.layers.Dense, keras.layers.Conv2D)

# Sparsity ramps up over this fraction of the fine-tuning steps; the rest lets accuracy recover.
RAMP_FRACTION = 0.6

# Sparsity rises in this many steps: small ones let the weights adapt (TFMOT's default of one
# every 100 optimizer steps gave a few abrupt jumps on small data sets and lost accuracy).
PRUNING_UPDATES = 20


@dataclass(frozen=True)
class PruneResult:
    """What pruning did.

    Attributes:
        model: the pruned model with its pruning wrappers stripped (plain tf_keras layers).
        fine_tuning: the fine-tuning fit's result.
        sparsity: measured fraction of zeros in the pruned kernels, by layer name.
    """

    model: keras.Model
    fine_tuning: TrainResult
    sparsity: dict[str, float]


def apply_pruning(
    model: keras.Model, sparsity: float, end_step: int
) -> tuple[keras.Model, list[keras.callbacks.Callback]]:
    """Wraps a copy of `model`'s prunable layers for magnitude pruning.

    Sparsity rises from 0 to `sparsity` between step 0 and `end_step` (TFMOT's
    `PolynomialDecay`), in about `PRUNING_UPDATES` increments, and stays there.

    Args:
        model: a tf_keras model; it is not modified.
        sparsity: the final fraction of zero weights in each pruned kernel, in (0, 1).
        end_step: the optimizer step at which the final sparsity is reached, >= 1.

    Returns:
        `(wrapped_model, callbacks)`: fit the wrapped model with these callbacks, or pruning
        does nothing.

    Raises:
        UnsupportedModelError: if `model` is not a tf_keras model.
        ValueError: if `sparsity` or `end_step` is out of range.
    """
    import tensorflow_model_optimization as tfmot

    require_tf_keras_model(model, "apply_pruning")
    if not 0 < sparsity < 1:
        raise ValueError(f"Argument `sparsity` must be in (0, 1). Received: sparsity={sparsity}")
    if end_step < 1:
        raise ValueError(f"Argument `end_step` must be >= 1. Received: end_step={end_step}")
    schedule = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0,
        final_sparsity=sparsity,
        begin_step=0,
        end_step=end_step,
        frequency=max(1, end_step // PRUNING_UPDATES),
    )

    def wrap(layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, PRUNABLE_LAYERS):
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer

    wrapped = keras.models.clone_model(_copy(model), clone_function=wrap)
    return wrapped, [tfmot.sparsity.keras.UpdatePruningStep()]


def strip_pruning(model: keras.Model) -> keras.Model:
    """Removes the pruning wrappers, leaving plain layers whose kernels hold the zeros."""
    import tensorflow_model_optimization as tfmot

    return tfmot.sparsity.keras.strip_pruning(model)


def prune(
    model: keras.Model,
    data: PreparedData,
    config: PruneConfig,
    train_config: TrainConfig,
    verbose: int | None = None,
) -> PruneResult:
    """Prunes a trained model: wrap, fine-tune, strip.

    Fine-tuning uses the training optimizer at a constant learning rate (by default half the
    training one) and no early
    stopping (restoring an earlier epoch's weights could undo the sparsity).

    Args:
        model: the trained tf_keras model; it is not modified.
        data: the prepared data.
        config: the prune section of the config.
        train_config: the train section of the config (optimizer, batch size, seed).
        verbose: Keras verbosity, as for `train`. Defaults to `None`.

    Returns:
        The stripped pruned model, its fine-tuning result and its measured sparsity.
    """
    steps = config.epochs * math.ceil(len(data.splits.train) / train_config.batch_size)
    wrapped, callbacks = apply_pruning(model, config.sparsity, max(1, int(steps * RAMP_FRACTION)))
    rate = config.learning_rate or train_config.learning_rate / 2
    result = train(
        wrapped,
        data,
        train_config,
        learning_rate=rate,
        epochs=config.epochs,
        callbacks=callbacks,
        early_stopping=False,
        verbose=verbose,
    )
    stripped = strip_pruning(wrapped)
    return PruneResult(stripped, result, kernel_sparsity(stripped))


def kernel_sparsity(model: keras.Model) -> dict[str, float]:
    """Returns the fraction of exact zeros in each prunable layer's kernel, by layer name."""
    return {
        layer.name: float(np.mean(layer.kernel.numpy() == 0))
        for layer in model.layers
        if isinstance(layer, PRUNABLE_LAYERS)
    }


def overall_sparsity(model: keras.Model) -> float:
    """Returns the fraction of exact zeros over all prunable kernels together."""
    kernels = [layer.kernel.numpy() for layer in model.layers if isinstance(layer, PRUNABLE_LAYERS)]
    total = sum(k.size for k in kernels)
    return float(sum(np.sum(k == 0) for k in kernels) / total) if total else 0.0


def _copy(model: keras.Model) -> keras.Model:
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


CLUSTERABLE_LAYERS = (keras.layers.Dense, keras.layers.Conv2D)


def apply_clustering(
    model: keras.Model, clusters: int, init: str = "kmeans_plus_plus"
) -> tuple[keras.Model, list[keras.callbacks.Callback]]:
    """Wraps a copy of `model`'s Dense and Conv2D layers for weight clustering.

    Each wrapped kernel is shared among `clusters` centroids, fine-tuned by training; strip
    the wrappers with `strip_clustering` before export.

    Args:
        model: a tf_keras model; it is not modified.
        clusters: centroids per kernel, >= 2.
        init: centroid initialization: `kmeans_plus_plus`, `linear`, `density_based` or
            `random`. Defaults to `"kmeans_plus_plus"`.

    Returns:
        `(wrapped_model, callbacks)`; clustering needs no callback, so the list is empty.

    Raises:
        UnsupportedModelError: if `model` is not a tf_keras model.
        ValueError: for fewer than 2 clusters or an unknown initialization.
    """
    import tensorflow_model_optimization as tfmot

    require_tf_keras_model(model, "apply_clustering")
    if clusters < 2:
        raise ValueError(f"Argument `clusters` must be >= 2. Received: clusters={clusters}")
    inits = tfmot.clustering.keras.CentroidInitialization
    accepted = {"kmeans_plus_plus", "linear", "density_based", "random"}
    if init not in accepted:
        raise ValueError(
            f"Argument `init` must be one of {', '.join(sorted(accepted))}. Received: init={init!r}"
        )
    options = {"number_of_clusters": clusters, "cluster_centroids_init": inits[init.upper()]}

    def wrap(layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, CLUSTERABLE_LAYERS):
            return tfmot.clustering.keras.cluster_weights(layer, **options)
        return layer

    return keras.models.clone_model(_copy(model), clone_function=wrap), []


def strip_clustering(model: keras.Model) -> keras.Model:
    """Removes the clustering wrappers, leaving plain layers whose kernels hold the centroids."""
    import tensorflow_model_optimization as tfmot

    return tfmot.clustering.keras.strip_clustering(model)


def unique_weights(model: keras.Model) -> dict[str, int]:
    """Returns the number of distinct values in each Dense / Conv2D kernel, by layer name."""
    return {
        layer.name: int(np.unique(layer.kernel.numpy()).size)
        for layer in model.layers
        if isinstance(layer, CLUSTERABLE_LAYERS)
    }


def apply_qat(model: keras.Model) -> tuple[keras.Model, list[keras.callbacks.Callback]]:
    """Prepares a copy of `model` for quantization-aware training (TFMOT's default 8-bit scheme).

    Only Dense and Conv2D layers are annotated (TFMOT has no scheme for layers such as
    `Normalization`, which stay float). Fine-tune the returned model, then export it with
    `export_tflite(..., "int8")`: the converter uses the ranges learned in training.

    Args:
        model: a tf_keras model; it is not modified.

    Returns:
        `(qat_model, callbacks)`; QAT needs no callback, so the list is empty.

    Raises:
        UnsupportedModelError: if `model` is not a tf_keras model.
        ValueError: if `model` was already prepared for quantization-aware training.
    """
    import tensorflow_model_optimization as tfmot

    require_tf_keras_model(model, "apply_qat")
    if any(type(layer).__name__ == "QuantizeWrapperV2" for layer in model.layers):
        raise ValueError("The model is already quantization-aware; apply QAT once.")
    quantize = tfmot.quantization.keras

    def annotate(layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, CLUSTERABLE_LAYERS):
            return quantize.quantize_annotate_layer(layer)
        return layer

    annotated = keras.models.clone_model(_copy(model), clone_function=annotate)
    return quantize.quantize_apply(annotated), []
