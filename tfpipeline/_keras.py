"""The one place tfpipeline imports Keras: tf_keras, the Keras 2 API that TFMOT needs.

`tfpipeline/__init__.py` sets `TF_USE_LEGACY_KERAS=1` before TensorFlow is imported, so
`tf.keras` (and the seed example's `from tensorflow.keras import layers, models`) is tf_keras too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import tensorflow as tf
import tf_keras as keras

__all__ = ["keras", "releasing_traced_gradients", "tf"]


@contextlib.contextmanager
def releasing_traced_gradients() -> Iterator[None]:
    """Forgets, on leaving, the gradient functions TensorFlow registered inside the block.

    Each time a training step is traced, the optimizer's all-reduce (a `custom_gradient`)
    registers its gradient function in TensorFlow's global gradient registry under a new
    name, and nothing ever removes it: every fit keeps its whole training graph alive (about
    2 MB for the seed model), and a process running many jobs grows without end. Use this
    only around work whose models are dropped at the end (a pipeline run), since a graph
    traced inside cannot be differentiated again afterwards.
    """
    from tensorflow.python.framework import ops

    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    before = set(registry) if isinstance(registry, dict) else None
    try:
        yield
    finally:
        if before is not None:
            for name in [n for n in registry if n not in before and n.startswith("CustomGrad")]:
                del registry[name]
