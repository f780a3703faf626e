"""TFMOT quantization-aware training, plain or preserving earlier pruning and clustering."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from tfpipeline._keras import keras
from tfpipeline._model_check import takes_tf_keras_model
from tfpipeline.compress._layers import is_skipped, layers_to_wrap, wrap_layers
from tfpipeline.models import input_normalization, is_quantization_aware

PRESERVABLE = ("sparsity", "clusters")


@takes_tf_keras_model(bridge=True, stage="apply_qat")
def apply_qat(
    model: keras.Model,
    *,
    preserve: Sequence[str] = (),
    skip_layers: Sequence[str] = (),
) -> tuple[keras.Model, list[keras.callbacks.Callback]]:
    """Prepares a copy of `model` for quantization-aware training (TFMOT's 8-bit scheme).

    Fine-tune the returned model, then export it with `export_tflite(..., "int8")`: the
    converter uses the ranges learned in training. Layers without weights that TFMOT does not
    know (such as `Normalization`) and skipped layers are left float in training; the int8
    converter still quantizes them from its calibration samples.

    Args:
        model: a tf_keras model (stripped of pruning and clustering wrappers); it is not
            modified.
        preserve: what earlier compression to keep: `sparsity` (prune-preserving QAT,
            PQAT), `clusters` (cluster-preserving QAT, CQAT) or both (PCQAT).
            Defaults to none.
        skip_layers: layer names or class names to leave float. Defaults to none.

    Returns:
        `(qat_model, callbacks)`; QAT needs no callback, so the list is empty.

    Raises:
        UnsupportedModelError: if `model` is not a tf_keras model, or has a layer TFMOT
            cannot quantize (named, with the option that skips it).
        ValueError: if `model` is already quantization-aware, or for an unknown `preserve`.
    """
    import tensorflow_model_optimization as tfmot

    if is_quantization_aware(model):
        raise ValueError("The model is already quantization-aware; apply QAT once.")
    unknown = set(preserve) - set(PRESERVABLE)
    if unknown:
        raise ValueError(
            f"Argument `preserve` takes {', '.join(PRESERVABLE)}. Received: preserve={preserve!r}"
        )
    quantize = tfmot.quantization.keras
    scheme = _scheme(set(preserve))
    registry = scheme.get_quantize_registry()
    names = layers_to_wrap(model, registry.supports, skip_layers, "quantized", "skip_layers")
    float_layers = _float_layers(model, names, skip_layers)
    # The input normalization takes the raw input in float and quantizes its output: one
    # int8 scale over raw features in mixed units (grams beside millimetres) would lose the
    # small-unit ones, in training as in the exported model.
    normalization = set(input_normalization(model))
    annotate = _annotator(normalization, float_layers)
    annotated = wrap_layers(model, names | float_layers | normalization, annotate)
    scope = {"KeepFloat": _keep_float_config(), "FloatInput": _float_input_config()}
    with quantize.quantize_scope(scope):
        qat = quantize.quantize_apply(annotated, scheme)
    if normalization:
        _keep_input_float(qat)
    return qat, []


def _float_layers(model: keras.Model, names: set[str], skip_layers: Sequence[str]) -> set[str]:
    """The layers outside `names` annotated to stay float: the 8-bit scheme cannot quantize
    them, and the preserving schemes would otherwise ask for their config when quantizing
    the output they feed."""
    import tensorflow_model_optimization as tfmot

    default_registry = tfmot.quantization.keras.default_8bit.Default8BitQuantizeRegistry()
    return {
        layer.name
        for layer in model.layers
        if layer.name not in names
        and not _reads_integers(layer)
        and (is_skipped(layer, skip_layers) or not default_registry.supports(layer))
    }


def _reads_integers(layer: keras.layers.Layer) -> bool:
    """Whether a layer reads integers (an embedding reading token ids): it is left without
    annotation, since an annotated one would have TFMOT fake-quantize its integer input."""
    try:
        inputs = layer.input if isinstance(layer.input, list) else [layer.input]
    except AttributeError:  # a layer that was never called
        return False
    return any(getattr(t, "dtype", None) is not None and t.dtype.is_integer for t in inputs)


def _annotator(
    normalization: set[str], float_layers: set[str]
) -> Callable[[keras.layers.Layer], keras.layers.Layer]:
    """How a wrapped layer is annotated: the input normalization computes in float and
    quantizes its output, `float_layers` quantize nothing, the others as the scheme says."""
    import tensorflow_model_optimization as tfmot

    quantize = tfmot.quantization.keras
    keep_float, float_in = _keep_float_config(), _float_input_config()

    def annotate(layer: keras.layers.Layer) -> keras.layers.Layer:
        if layer.name in normalization:
            return quantize.quantize_annotate_layer(layer, quantize_config=float_in())
        if layer.name in float_layers:  # the preserving schemes ask every layer for a config
            return quantize.quantize_annotate_layer(layer, quantize_config=keep_float())
        return quantize.quantize_annotate_layer(layer)

    return annotate


def _keep_input_float(model: keras.Model) -> None:
    """Turns off the quantization TFMOT puts on the raw input (the normalization after it
    quantizes its output instead)."""
    for layer in model.layers:
        if type(layer).__name__ == "QuantizeLayer":
            inbound = layer.inbound_nodes[0].inbound_layers
            if isinstance(inbound, keras.layers.InputLayer):
                layer.quantizer = None


def _scheme(preserve: set[str]):
    import tensorflow_model_optimization as tfmot

    combine = tfmot.experimental.combine
    if "clusters" in preserve:
        return combine.Default8BitClusterPreserveQuantizeScheme(
            preserve_sparsity="sparsity" in preserve
        )
    if "sparsity" in preserve:
        return combine.Default8BitPrunePreserveQuantizeScheme()
    return tfmot.quantization.keras.default_8bit.Default8BitQuantizeScheme()


@functools.cache
def _float_input_config() -> type:
    """A QuantizeConfig class for the input normalization: float inside, quantized output."""
    import tensorflow_model_optimization as tfmot

    quantizers = tfmot.quantization.keras.quantizers

    class FloatInput(_keep_float_config()):
        def get_output_quantizers(self, layer):
            return [
                quantizers.MovingAverageQuantizer(
                    num_bits=8, per_axis=False, symmetric=False, narrow_range=False
                )
            ]

    return FloatInput


@functools.cache
def _keep_float_config() -> type:
    """A QuantizeConfig class that quantizes nothing: its layer stays float in training."""
    import tensorflow_model_optimization as tfmot

    class KeepFloat(tfmot.quantization.keras.QuantizeConfig):
        def get_weights_and_quantizers(self, layer):
            return []

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            pass

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            return []

        def get_config(self):
            return {}

    return KeepFloat
