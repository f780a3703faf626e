"""Stage 2, model: the config's model, or the user's own (`model.kind: custom`)."""

from __future__ import annotations

from typing import Any

from tfpipeline._keras import keras
from tfpipeline._model_check import require_tf_keras_model
from tfpipeline.bridge import is_keras3_model
from tfpipeline.config import ModelConfig, TrainConfig
from tfpipeline.data import PreparedData
from tfpipeline.errors import ConfigError
from tfpipeline.models import build_model, describe_model
from tfpipeline.stages.log import StageLog


def custom_model(config: ModelConfig, model: Any, log: StageLog, entry: str):
    """The user's model as a tf_keras model (a Keras 3 one rebuilt by the bridge), or `None`
    when the config builds the model.

    Raises:
        ConfigError: for `model.kind: custom` without a model, or a model with another kind.
        UnsupportedModelError: for a model that is neither tf_keras nor Keras 3 the bridge
            can rebuild.
    """
    custom = config.kind == "custom"
    if custom and model is None:
        raise ConfigError(
            "`model.kind: custom` needs your model: `Pipeline(config).run(model=...)`."
        )
    if model is not None and not custom:
        raise ConfigError(
            f"A model was given but `model.kind` is {config.kind!r}; set `model.kind: custom` "
            "to train it."
        )
    if not custom:
        return None
    if is_keras3_model(model):
        log.detail("Keras 3 model: rebuilt as tf_keras by the bridge (outputs checked)")
    return require_tf_keras_model(model, entry, bridge=True)


def model_source(model: Any) -> str:
    """Where the run's model came from, in words (for the run record)."""
    if model is None:
        return "built from config"
    if is_keras3_model(model):
        return "Keras 3 model, rebuilt as tf_keras by the bridge"
    return "tf_keras model given"


def model_stage(
    config: ModelConfig,
    train: TrainConfig,
    data: PreparedData,
    custom=None,
    strategy=None,
    log: StageLog | None = None,
) -> keras.Model:
    """Builds the config's model for `data` (or takes `custom`), inside the distribution
    strategy's scope when there is one, and logs its shape.

    Args:
        config: the `model` section. train: the `train` section (seed, optimizer).
        data: the prepared data (input shape, classes, normalization statistics).
        custom: the user's model (see `custom_model`). Defaults to `None`.
        strategy: the tf.distribute strategy, if any. Defaults to `None`.
        log: where progress goes. Defaults to printing.
    """
    log = log or StageLog()
    if custom is not None:
        log.stage(2, "model", f"custom {custom.name}, {custom.count_params():,} parameters")
        replaced = _compile_replaced(custom, train, data.task)
        if replaced:
            log.detail(replaced)
        if strategy is not None:  # its variables must be made in the strategy's scope
            copy = keras.models.clone_model(custom)
            copy.set_weights(custom.get_weights())
            return copy
        return custom
    model = build_model(config, data, seed=train.seed)
    log.stage(2, "model", describe_model(config, data, model))
    if config.kind == "pretrained" and data.feature_shape[-1] == 1:
        log.detail(
            "grayscale images: the model repeats them on 3 channels (layer grayscale_to_rgb) "
            "for the backbone, which takes RGB"
        )
    return model


def _compile_replaced(model, train: TrainConfig, task: str) -> str | None:
    """What replaces a custom model's own `compile()` settings, said once (or `None`)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    loss = getattr(model, "loss", None)
    loss = getattr(loss, "__name__", None) or getattr(loss, "name", None) or loss
    ours = "sparse categorical cross-entropy" if task == "classification" else "standardized MSE"
    return (
        f"your model's compile() (optimizer {type(optimizer).__name__}, loss {loss}) is "
        f"replaced by the config's: optimizer {train.optimizer} at learning rate "
        f"{train.learning_rate:g} (train.*), loss {ours} (it fits the labels as the "
        "pipeline encodes them: class indices, or standardized targets)"
    )
