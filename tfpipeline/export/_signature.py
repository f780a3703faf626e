"""The serving signature shared by every export: one named input, one named output."""

from __future__ import annotations

import warnings

import numpy as np

from tfpipeline._keras import keras, tf
from tfpipeline._model_check import require_tf_keras_model
from tfpipeline.bridge import is_keras3_model
from tfpipeline.errors import UnsupportedModelError


def exportable_model(model, stage: str):
    """A tf_keras model as it is; a Keras 3 model rebuilt by the bridge where it can be.

    A Keras 3 model with a layer the bridge cannot rebuild is exported through its own
    TensorFlow graph instead (a warning says so and why): TFLite and tf2onnx read that graph
    as they read a tf_keras one.
    """
    if not is_keras3_model(model):
        return require_tf_keras_model(model, stage)
    try:
        return require_tf_keras_model(model, stage, bridge=True)
    except UnsupportedModelError as exc:
        warnings.warn(
            f"{stage}: exporting the Keras 3 model through its own TensorFlow graph, not the "
            f"tf_keras bridge ({exc})",
            stacklevel=3,
        )
        return model


def input_spec(model: keras.Model) -> tf.TensorSpec:
    """Returns the model's input spec with a dynamic batch dimension, the input's name and
    its type (see `input_dtype`).

    Raises:
        UnsupportedModelError: for a model with more than one input or output.
    """
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedModelError(
            f"Model {model.name!r} has {len(model.inputs)} inputs "
            f"({', '.join(str(getattr(t, 'name', t)) for t in model.inputs)})"
            f" and {len(model.outputs)} outputs; the exporters write one input tensor and one "
            "output tensor. Concatenate the inputs (and keep one output) before exporting."
        )
    shape = [None, *model.inputs[0].shape[1:]]
    return tf.TensorSpec(shape, input_dtype(model), name=_input_name(model))


def input_dtype(model: keras.Model) -> tf.DType:
    """The input's type: int32 for token ids (text models), float32 for everything else."""
    dtype = tf.as_dtype(model.inputs[0].dtype)
    return dtype if dtype.is_integer else tf.float32


def as_model_input(x, model: keras.Model) -> np.ndarray:
    """Samples as an array of the model's input type (see `input_dtype`)."""
    return np.asarray(x, dtype=input_dtype(model).as_numpy_dtype)


def serving_function(model: keras.Model) -> tf.types.experimental.ConcreteFunction:
    """Returns the concrete `serving_default` function: `{output_name: model(input)}`."""
    return serving_tf_function(model).get_concrete_function()


def serving_tf_function(model: keras.Model):
    """Returns the `serving_default` `tf.function` (one input spec, one named output)."""
    output_name = _output_name(model)

    @tf.function(input_signature=[input_spec(model)])
    def serve(inputs):
        return {output_name: model(inputs, training=False)}

    return serve


def _input_name(model) -> str:
    """The input's name (tf_keras's `input_names`; a Keras 3 model's input tensor name)."""
    names = getattr(model, "input_names", None)
    return names[0] if names else model.inputs[0].name.split(":")[0]


def _output_name(model) -> str:
    """The output's name (tf_keras's `output_names`; a Keras 3 model's last layer name)."""
    names = getattr(model, "output_names", None)
    return names[0] if names else model.layers[-1].name
