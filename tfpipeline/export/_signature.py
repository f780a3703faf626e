"""The serving signature shared by every export: one named input, one named output."""

from __future__ import annotations

from tfpipeline._keras import keras, tf
from tfpipeline.errors import UnsupportedModelError


def input_spec(model: keras.Model) -> tf.TensorSpec:
    """Returns the model's input spec with a dynamic batch dimension and the input's name.

    Raises:
        UnsupportedModelError: for a model with more than one input or output.
    """
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedModelError(
            f"Model {model.name!r} has {len(model.inputs)} inputs ({', '.join(model.input_names)})"
            f" and {len(model.outputs)} outputs; the exporters write one input tensor and one "
            "output tensor. Concatenate the inputs (and keep one output) before exporting."
        )
    shape = [None, *model.inputs[0].shape[1:]]
    return tf.TensorSpec(shape, tf.float32, name=model.input_names[0])


def serving_function(model: keras.Model) -> tf.types.experimental.ConcreteFunction:
    """Returns the concrete `serving_default` function: `{output_name: model(input)}`."""
    output_name = model.output_names[0]

    @tf.function(input_signature=[input_spec(model)])
    def serve(inputs):
        return {output_name: model(inputs, training=False)}

    return serve.get_concrete_function()
