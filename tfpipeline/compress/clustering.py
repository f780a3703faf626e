"""TFMOT weight clustering as paired verbs, and the unique values measured afterwards."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tfpipeline._keras import keras
from tfpipeline._model_check import takes_tf_keras_model
from tfpipeline._schema import check_argument
from tfpipeline.compress._layers import layers_to_wrap, per_layer, wrap_layers
from tfpipeline.config.compress import CENTROID_INIT, CLUSTERS


@takes_tf_keras_model(bridge=True, stage="apply_clustering")
def apply_clustering(
    model: keras.Model,
    clusters: int,
    init: str = "kmeans_plus_plus",
    *,
    preserve_sparsity: bool = False,
    skip_layers: Sequence[str] = (),
) -> tuple[keras.Model, list[keras.callbacks.Callback]]:
    """Wraps a copy of `model`'s clusterable layers for weight clustering.

    Each wrapped kernel is shared among `clusters` centroids, fine-tuned by training; strip
    the wrappers with `strip_clustering` before export.

    Args:
        model: a tf_keras model; it is not modified.
        clusters: centroids per kernel, >= 2.
        init: centroid initialization: `kmeans_plus_plus`, `linear`, `density_based` or
            `random`. Defaults to `"kmeans_plus_plus"`.
        preserve_sparsity: keep the zeros of an already pruned model at zero (TFMOT's
            sparsity-preserving clustering, for prune -> cluster). Defaults to `False`.
        skip_layers: layer names or class names to leave unclustered. Defaults to none.

    Returns:
        `(wrapped_model, callbacks)`; clustering needs no callback, so the list is empty.

    Raises:
        UnsupportedModelError: if `model` is not a tf_keras model, or has a layer TFMOT
            cannot cluster (named, with the option that skips it).
        TypeError: for a `clusters` that is not a number.
        ValueError: for fewer than 2 clusters or an unknown initialization.
    """
    import tensorflow_model_optimization as tfmot
    from tensorflow_model_optimization.python.core.clustering.keras.experimental import (
        cluster as experimental_cluster,
    )

    check_argument("clusters", clusters, CLUSTERS)  # the rules of `compress.cluster`
    check_argument("init", init, CENTROID_INIT)
    cluster_api = tfmot.clustering.keras
    options = {
        "number_of_clusters": clusters,
        "cluster_centroids_init": cluster_api.CentroidInitialization[init.upper()],
    }
    wrap = cluster_api.cluster_weights
    if preserve_sparsity:
        wrap = experimental_cluster.cluster_weights
        options["preserve_sparsity"] = True

    names = layers_to_wrap(model, supports_clustering, skip_layers, "clustered", "skip_layers")
    return wrap_layers(model, names, lambda layer: wrap(layer, **options)), []


def strip_clustering(model: keras.Model) -> keras.Model:
    """Removes the clustering wrappers, leaving plain layers whose kernels hold the centroids."""
    import tensorflow_model_optimization as tfmot

    return tfmot.clustering.keras.strip_clustering(model)


def unique_weights(model: keras.Model) -> dict[str, int]:
    """Returns the most distinct values in any one kernel of each layer, by layer name.

    Layers without a kernel (two or more axes) are left out.
    """
    return per_layer(model, lambda ms: max(int(np.unique(m).size) for m in ms))


def supports_clustering(layer: keras.layers.Layer) -> bool:
    """Whether TFMOT can cluster `layer`'s weights."""
    import tensorflow_model_optimization as tfmot
    from tensorflow_model_optimization.python.core.clustering.keras import clustering_registry

    custom = isinstance(layer, tfmot.clustering.keras.ClusterableLayer)
    return custom or clustering_registry.ClusteringRegistry.supports(layer)
