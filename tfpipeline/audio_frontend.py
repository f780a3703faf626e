"""The log-mel front end of audio models: a tf_keras layer inside the model.

Raw samples (float32 in [-1, 1]) -> STFT (Hann window) -> magnitude -> mel filter bank ->
log(mel + 1e-6). It converts to LiteRT's built-in ops (RFFT2D, COMPLEX_ABS, ...), so an app
feeds the waveform itself; in an `int8` model these ops stay float (see `export.int8_input`).
The layer is registered with Keras, so a saved `.keras` model reloads (this module is among
the modules `model_files` accepts in a `.keras` config).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from tfpipeline._keras import keras, tf
from tfpipeline.errors import ConfigError

LOG_OFFSET = 1e-6  # log(mel + LOG_OFFSET): silence gives a finite value


@dataclass(frozen=True)
class FrontEnd:
    """The front end's settings in samples and Hz, resolved from `model.audio`.

    Attributes:
        sample_rate: samples per second.
        frame_length: samples per STFT frame.
        frame_step: samples between frames.
        fft_length: the FFT size (the power of two at or above `frame_length`).
        mel_bins: mel filters.
        lower_hz: the lowest filter's edge.
        upper_hz: the highest filter's edge.
    """

    sample_rate: int
    frame_length: int
    frame_step: int
    fft_length: int
    mel_bins: int
    lower_hz: float
    upper_hz: float

    @classmethod
    def from_config(cls, config: Any, sample_rate: int, clip_samples: int) -> FrontEnd:
        """Resolves `model.audio` (an `AudioModelConfig`) for clips of `clip_samples`.

        Raises:
            ConfigError: for a frame longer than the clip, or a mel range outside
                0 to half the sample rate.
        """
        frame = max(2, int(round(sample_rate * config.frame_ms / 1000)))
        step = max(1, int(round(sample_rate * config.step_ms / 1000)))
        nyquist = sample_rate / 2
        upper = nyquist if config.upper_hz is None else float(config.upper_hz)
        if frame > clip_samples:
            raise ConfigError(
                f"Config key `model.audio.frame_ms` must make a frame no longer than the clip "
                f"({clip_samples} samples at {sample_rate} Hz). Received: "
                f"model.audio.frame_ms={config.frame_ms} ({frame} samples)"
            )
        if not config.lower_hz < upper <= nyquist:
            raise ConfigError(
                "Config keys `model.audio.lower_hz` and `model.audio.upper_hz` must satisfy "
                f"lower_hz < upper_hz <= half the sample rate ({nyquist:g} Hz). Received: "
                f"model.audio.lower_hz={config.lower_hz}, model.audio.upper_hz={config.upper_hz}"
            )
        fft = 1 << (frame - 1).bit_length()
        settings = cls(
            sample_rate, frame, step, fft, config.mel_bins, float(config.lower_hz), upper
        )
        settings.check_filters()
        return settings

    def check_filters(self) -> None:
        """Warns of mel filters that hold no FFT bin: each feeds the model a constant (as
        librosa warns of empty filters)."""
        matrix = tf.signal.linear_to_mel_weight_matrix(
            self.mel_bins, self.fft_length // 2 + 1, self.sample_rate, self.lower_hz, self.upper_hz
        ).numpy()
        empty = int((matrix.max(axis=0) <= 0).sum())
        if empty:
            warnings.warn(
                f"Config key `model.audio.mel_bins`: {empty} of {self.mel_bins} mel filters "
                f"hold no FFT bin and give a constant (a {self.fft_length}-"
                f"point FFT at {self.sample_rate} Hz has a bin every "
                f"{self.sample_rate / self.fft_length:.1f} Hz between {self.lower_hz:g} and "
                f"{self.upper_hz:g} Hz). Use fewer `mel_bins`, a longer `frame_ms` or a wider "
                f"`lower_hz`-`upper_hz` range. Received: model.audio.mel_bins={self.mel_bins}",
                UserWarning,
                stacklevel=3,
            )

    def frames(self, clip_samples: int) -> int:
        """Frames in a clip of `clip_samples` (no padding at its end)."""
        return 1 + (clip_samples - self.frame_length) // self.frame_step


@keras.utils.register_keras_serializable(package="tfpipeline")
class LogMelSpectrogram(keras.layers.Layer):
    """Log-mel spectrogram of raw audio samples: `(batch, samples)` -> `(batch, frames,
    mel_bins)`.

    Args:
        sample_rate: samples per second.
        frame_length: samples per STFT frame (Hann window).
        frame_step: samples between frames.
        fft_length: the FFT size, at least `frame_length`.
        mel_bins: mel filters.
        lower_hz: the lowest filter's edge, in Hz.
        upper_hz: the highest filter's edge, in Hz.
        log_offset: added to the mel energies before the log. Defaults to `1e-6`.
        **kwargs: the `Layer` arguments (`name`, ...).
    """

    def __init__(
        self,
        sample_rate: int,
        frame_length: int,
        frame_step: int,
        fft_length: int,
        mel_bins: int,
        lower_hz: float,
        upper_hz: float,
        log_offset: float = LOG_OFFSET,
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")  # raw samples keep their precision
        super().__init__(**kwargs)
        self.sample_rate = int(sample_rate)
        self.frame_length = int(frame_length)
        self.frame_step = int(frame_step)
        self.fft_length = int(fft_length)
        self.mel_bins = int(mel_bins)
        self.lower_hz = float(lower_hz)
        self.upper_hz = float(upper_hz)
        self.log_offset = float(log_offset)
        self.mel_matrix = tf.signal.linear_to_mel_weight_matrix(
            self.mel_bins,
            self.fft_length // 2 + 1,
            self.sample_rate,
            self.lower_hz,
            self.upper_hz,
        )

    def call(self, inputs):
        stft = tf.signal.stft(
            tf.cast(inputs, tf.float32),
            self.frame_length,
            self.frame_step,
            self.fft_length,
            window_fn=tf.signal.hann_window,
        )
        magnitude = tf.abs(stft)
        mel = tf.tensordot(magnitude, self.mel_matrix, 1)
        return tf.math.log(mel + self.log_offset)

    def compute_output_shape(self, input_shape):
        frames = None
        if input_shape[-1] is not None:
            frames = 1 + (int(input_shape[-1]) - self.frame_length) // self.frame_step
        return tf.TensorShape([input_shape[0], frames, self.mel_bins])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "sample_rate": self.sample_rate,
            "frame_length": self.frame_length,
            "frame_step": self.frame_step,
            "fft_length": self.fft_length,
            "mel_bins": self.mel_bins,
            "lower_hz": self.lower_hz,
            "upper_hz": self.upper_hz,
            "log_offset": self.log_offset,
        }


@keras.utils.register_keras_serializable(package="tfpipeline")
class AddChannel(keras.layers.Layer):
    """`(batch, frames, bins)` -> `(batch, frames, bins, 1)` with `tf.expand_dims` (the
    TFLite converter rejects the op `x[..., None]` makes)."""

    def call(self, inputs):
        return tf.expand_dims(inputs, -1)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape([*input_shape, 1])


def front_end(settings: FrontEnd, name: str = "log_mel") -> LogMelSpectrogram:
    """The front-end layer of `settings`."""
    return LogMelSpectrogram(
        settings.sample_rate,
        settings.frame_length,
        settings.frame_step,
        settings.fft_length,
        settings.mel_bins,
        settings.lower_hz,
        settings.upper_hz,
        name=name,
    )
