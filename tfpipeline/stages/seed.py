"""What every run (and sweep) does first: a clean Keras session and seeded generators."""

from __future__ import annotations

import gc

from tfpipeline._keras import keras, tf
from tfpipeline.config import TrainConfig


def seed_run(config: TrainConfig, clear_session: bool = True) -> None:
    """Seeds Python's, NumPy's and TensorFlow's generators with `train.seed` and, with
    `train.deterministic`, turns on TensorFlow's op determinism, so that the same config
    gives the same run.

    Args:
        config: the `train` section.
        clear_session: release the graphs of earlier runs in this process first (not when
            the user's own model is about to be trained: it lives in this session).
            Defaults to `True`.
    """
    if clear_session:
        keras.backend.clear_session()
        gc.collect()
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
