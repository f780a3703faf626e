"""The rule every public stage applies to the model it is given, stated once.

A stage that changes the model it is given in place (`train`) takes a tf_keras model only,
and refuses a Keras 3 model with the fix in the message. A stage that works on a copy or
only reads the model (the compression verbs, the exports, `Pipeline.run`) rebuilds a Keras 3
model as tf_keras with the bridge (`bridge=True`). Anything else is refused. Stages declare
the rule with `@takes_tf_keras_model(...)`; code that decides case by case calls
`require_tf_keras_model`.

This module sits above `_keras` and `bridge` (both below it import neither of them back).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TypeVar

from tfpipeline._keras import keras
from tfpipeline.bridge import from_keras3
from tfpipeline.errors import UnsupportedModelError

__all__ = ["require_tf_keras_model", "takes_tf_keras_model"]

F = TypeVar("F", bound=Callable)


def require_tf_keras_model(model: object, stage: str, bridge: bool = False) -> keras.Model:
    """Returns `model` as a tf_keras model, or raises a clear error.

    Args:
        model: the model handed to a stage.
        stage: the stage's name, for the message.
        bridge: rebuild a Keras 3 model as tf_keras (`from_keras3`); for stages that do
            not change the model they are given. Defaults to `False`.

    Returns:
        `model` itself when it is a tf_keras model; its tf_keras rebuild with `bridge`.

    Raises:
        UnsupportedModelError: for a Keras 3 model without `bridge` (or one the bridge cannot
            rebuild), or anything that is not a tf_keras model.
    """
    if isinstance(model, keras.Model):
        return model
    module = type(model).__module__
    if module.startswith("keras"):
        if bridge:
            return from_keras3(model)
        raise UnsupportedModelError(
            f"`{stage}` changes the model it is given and needs a tf_keras (Keras 2) model; it "
            f"received a Keras 3 model ({type(model).__name__} from `{module}`). Rebuild it "
            "with `model = tfpipeline.from_keras3(model)` (weights copied, outputs checked), "
            "or build it with tf_keras: import tfpipeline before TensorFlow and use "
            "`from tensorflow.keras import layers, models`."
        )
    raise UnsupportedModelError(
        f"`{stage}` needs a tf_keras model (`tf_keras.Model`). Received: {type(model).__name__}"
    )


def takes_tf_keras_model(*, bridge: bool = False, stage: str | None = None) -> Callable[[F], F]:
    """Applies `require_tf_keras_model` to the decorated stage's `model` argument.

    The stage's body receives the tf_keras model (the rebuilt one when `bridge` rebuilt it);
    its signature and docstring are kept.

    Args:
        bridge: rebuild a Keras 3 model (stages that work on a copy or only read the model);
            `False` refuses it (stages that change the model in place). Defaults to `False`.
        stage: the name in error messages. Defaults to the function's qualified name.

    Raises:
        TypeError: at decoration, for a function without a `model` parameter.
    """

    def decorate(function: F) -> F:
        signature = inspect.signature(function)
        if "model" not in signature.parameters:
            raise TypeError(
                f"`takes_tf_keras_model` needs a function with a `model` parameter. "
                f"Received: {function.__qualname__}{signature}"
            )
        name = stage or function.__qualname__

        @functools.wraps(function)
        def checked(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.arguments["model"] = require_tf_keras_model(
                bound.arguments["model"], name, bridge
            )
            return function(*bound.args, **bound.kwargs)

        return checked  # type: ignore[return-value]

    return decorate
