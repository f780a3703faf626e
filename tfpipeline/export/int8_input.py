"""How the `int8` model takes its input, decided from the training statistics.

A full-integer model quantizes its raw input with one scale for every value. That suits
images (every pixel in 0-255) and features that share one range (digits' 0-16), but not
tabular data in mixed units: with proline (~300-1700) beside hue (~0.5-1.7), one int8 scale
leaves hue less than one quantization step, and the model loses it before the normalization
inside it runs. Such models keep their input normalization in float: raw float32 values in,
each feature standardized, then the first quantize.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from tfpipeline._keras import keras
from tfpipeline._text import listed
from tfpipeline.data import PreparedData
from tfpipeline.data.stats import FeatureStats
from tfpipeline.models import AUDIO_FLOAT_LAYERS, input_normalization, output_rescaling

# A feature whose training range covers fewer of the 255 steps of one shared int8 input scale
# than this loses too much of itself at the input quantize (its quantization noise is then
# above a tenth of its standard deviation).
MIN_INPUT_STEPS = 8


@dataclass(frozen=True)
class Int8Input:
    """How the `int8` variant takes its input.

    Attributes:
        dtype: the input type: `int8` or `uint8` (the output's type too), `float32`, or
            `int32` (token ids).
        float_layers: the layers computed in float before the first quantize.
        reason: why, in one sentence (for the log, manifest, report and model card).
    """

    dtype: str
    float_layers: tuple[str, ...]
    reason: str

    def to_dict(self) -> dict:
        """Returns the plan as a plain dict (for the manifest and the model card)."""
        return {**asdict(self), "float_layers": list(self.float_layers)}


def input_steps(stats: FeatureStats) -> np.ndarray:
    """Each feature's training range in steps of one int8 scale shared by every feature."""
    ranges = (stats.maximum - stats.minimum).astype(np.float64)
    total = float(np.max(stats.maximum) - np.min(stats.minimum))
    return ranges * 255.0 / total if total > 0 else np.full(ranges.shape, 255.0)


def plan_int8_input(
    model: keras.Model, data: PreparedData, setting: str = "auto", int8_io: str = "int8"
) -> Int8Input:
    """Decides how the `int8` variant of `model` takes its input (see the module docstring).

    A regression model's output rescaling (standardized prediction to the target's units)
    also stays float, whatever the input: an int8 tensor's range must hold 0, so a target
    of 600-700 would keep steps of about 3 units.

    Args:
        model: the model to export.
        data: the prepared data: the training statistics of the raw input (per feature, or
            per channel for images) and the feature names.
        setting: `auto`, `quantized` or `float` (`export.int8_input`). Defaults to `"auto"`.
        int8_io: the quantized input type, `int8` or `uint8`. Defaults to `"int8"`.

    Returns:
        The input type, the layers kept in float and the reason.
    """
    if data.is_text:
        return Int8Input(
            "int32",
            (),
            "text input: the int32 token ids index the int8 embedding table as they are (no "
            f"input quantization); the output is {int8_io}",
        )
    if setting == "quantized":
        return Int8Input(int8_io, (), "export.int8_input is quantized")
    front_end = audio_float_layers(model)
    if front_end:
        return Int8Input("float32", front_end, AUDIO_REASON)
    stats, names = data.stats, data.feature_names
    steps = input_steps(stats)
    varying = np.flatnonzero(stats.maximum > stats.minimum)
    narrow = varying[steps[varying] < MIN_INPUT_STEPS]
    floats: list[str] = []
    if setting == "float" or (not data.is_image and len(narrow)):
        why = (
            "export.int8_input is float"
            if setting == "float"
            else f"the features do not share one scale: under one int8 input scale "
            f"{_narrowest(narrow, steps, names)}"
        )
        floats += input_normalization(model)
        reasons = [
            f"{why}; the input normalization computes in float before the first quantize"
            if floats
            else f"{why}, but the model has no normalization layer at its input to compute "
            "in float, so its input stays quantized; add one (data.normalization: "
            "standardize)"
        ]
    elif data.is_image:
        reasons = ["image input: one value range for every pixel"]
    else:
        fewest = int(varying[np.argmin(steps[varying])]) if len(varying) else 0
        reasons = [
            "the features share one scale: under one int8 input scale each spans at least "
            f"{MIN_INPUT_STEPS} steps (fewest: {_name(names, fewest)}, {steps[fewest]:.1f})"
        ]
    target = output_rescaling(model)
    if target:
        floats += target
        reasons.append(
            "the output's rescaling to the target's units computes in float (an int8 output "
            "must hold 0 in its range, so a target far from 0 would keep coarse steps)"
        )
    return Int8Input("float32" if floats else int8_io, tuple(floats), "; ".join(reasons))


# Why an audio model's int8 variant keeps its front end in float.
AUDIO_REASON = (
    "audio input: float32 samples in [-1, 1] (8 bits would leave quiet speech a few steps); "
    "the log-mel front end (STFT: RFFT2D, COMPLEX_ABS, mel filter bank, LOG) and the "
    "normalization after it compute in float before the first quantize"
)


def audio_float_layers(model: keras.Model) -> tuple[str, ...]:
    """The layers of an audio model (`model.kind: audio`) kept float in int8: its log-mel
    front end and the normalization after it; none for other models."""
    names = {layer.name for layer in model.layers}
    if AUDIO_FLOAT_LAYERS[0] not in names:
        return ()
    return tuple(name for name in AUDIO_FLOAT_LAYERS if name in names)


def _name(names: Sequence[str], index: int) -> str:
    return f"'{names[index]}'" if index < len(names) else f"feature {index}"


def _narrowest(narrow: np.ndarray, steps: np.ndarray, names: Sequence[str]) -> str:
    order = narrow[np.argsort(steps[narrow])]
    spans = [f"{_name(names, int(i))} spans {steps[i]:.2g} steps" for i in order]
    return f"{listed(spans, 3)} (fewer than {MIN_INPUT_STEPS})"
