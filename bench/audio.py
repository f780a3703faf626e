"""Spoken keywords: accuracy of every export, latency per one-second clip, size per variant.

Usage: python bench/audio.py [--per-word 80] [--rounds 30]

The data: no speech data set is on this machine and none can be downloaded, so the keywords
are synthesized (the generator of notebook 11, with more variation and noise): four "words"
(yes, no, up, stop), each a voiced sound with its own pitch contour and two resonances
(formants), "stop" ending in a burst of noise; each utterance 0.25-0.4 s long with a random
pitch (+-30%), resonances (+-20%, speakers), loudness (0.3-0.8 of full scale) and start
(0-0.3 s), plus Gaussian noise of 0.02-0.25 of full scale (a quiet or a noisy room);
written as 16-bit WAV files at 16 kHz (every tenth at 44.1 kHz, resampled by the package)
in the Speech Commands layout, with a `_background_noise_` folder (mains hum, white noise).

The measurement: one `tp.Pipeline(config).run()` with `data.source: audio_dir`,
`model.kind: audio` and the package's defaults (16 kHz, one-second clips, 40 mel bins of
30 ms frames every 20 ms, conv [16, 32], head [128, 64]) and training-only augmentation
(time shift 0.1, gain 0.2, background noise 0.1); up to 20 epochs with early stopping on the
validation loss; no compression; exports float32, float16, dynamic and int8 `.tflite` (an
audio model has no ONNX file: tf2onnx cannot convert its STFT with a free batch). Each
artifact's test accuracy and top-1 agreement are the package's own (its verify stage, in
LiteRT). Then each `.tflite` is opened with `tp.Predictor.load(path, num_threads=1)` and
`Predictor.run` times one clip (16,000 float32 samples) per call, against the Keras model
called directly on the same clip, in rounds taking turns (medians of per-round ratios).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.io import wavfile

import tfpipeline as tp

RATE = 16_000
WORDS = {  # pitch in Hz, first and second resonance in Hz, pitch contour
    "yes": (250, 900, 2300, "rising"),
    "no": (300, 700, 1200, "falling"),
    "up": (180, 1600, 2600, "flat"),
    "stop": (220, 450, 1900, "flat"),
}
VARIANTS = ("float32", "float16", "dynamic", "int8")


def say(word: str, rate: int, rng: np.random.Generator) -> np.ndarray:
    """One synthetic utterance of `word` at `rate`, float samples in [-1, 1]."""
    pitch, first, second, contour = WORDS[word]
    first, second = first * rng.uniform(0.8, 1.2), second * rng.uniform(0.8, 1.2)  # speakers
    seconds = rng.uniform(0.25, 0.4)
    t = np.arange(int(seconds * rate)) / rate
    shape = {"rising": 1 + 0.5 * t / seconds, "falling": 1.4 - 0.5 * t / seconds}
    f0 = pitch * rng.uniform(0.7, 1.3) * shape.get(contour, np.ones_like(t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    wave = np.zeros_like(t)
    for h in range(1, 12):
        fh = h * f0
        level = np.exp(-(((fh - first) / 250) ** 2)) + 0.7 * np.exp(-(((fh - second) / 350) ** 2))
        wave += np.where(fh < rate / 2, level + 0.05, 0.0) * np.sin(h * phase) / np.sqrt(h)
    wave *= np.sin(np.pi * t / seconds) ** 0.5
    if word == "stop":
        wave *= t < 0.6 * seconds
        wave += 1.5 * rng.standard_normal(len(t)) * (t > 0.7 * seconds) * np.hanning(len(t))
    wave *= rng.uniform(0.3, 0.8) / np.abs(wave).max()
    wave = np.concatenate([np.zeros(int(rng.uniform(0, 0.3) * rate)), wave])
    noise = rng.uniform(0.02, 0.25) * rng.standard_normal(len(wave))  # a quiet or noisy room
    return np.clip(wave + noise, -1, 1)


def pcm16(wave: np.ndarray) -> np.ndarray:
    return np.round(np.clip(wave, -1, 1) * 32767).astype(np.int16)


def write_words(root: Path, per_word: int) -> Path:
    rng = np.random.default_rng(0)
    for word in WORDS:
        (root / word).mkdir(parents=True)
        for i in range(per_word):
            rate = 44_100 if i % 10 == 0 else RATE
            wavfile.write(root / word / f"{i:03d}.wav", rate, pcm16(say(word, rate, rng)))
    noise = root / "_background_noise_"
    noise.mkdir()
    t = np.arange(5 * RATE) / RATE
    wavfile.write(noise / "hum.wav", RATE, pcm16(0.3 * np.sin(2 * np.pi * 60 * t)))
    wavfile.write(noise / "white.wav", RATE, pcm16(0.3 * rng.standard_normal(len(t))))
    return root


def run(root: Path, folder: Path) -> dict:
    config = tp.load_config(
        overrides={
            "data.source": "audio_dir",
            "data.path": str(root),
            "data.augment.time_shift": 0.1,
            "data.augment.gain": 0.2,
            "data.augment.background_noise": 0.1,
            "model.kind": "audio",
            "train.epochs": 20,
            "compress.prune.enabled": False,
            "export.tflite": list(VARIANTS),
            "export.saved_model": False,
        }
    )
    started = time.perf_counter()
    manifest = tp.Pipeline(config, log=lambda line: None, verbose=0).run(folder)
    print(f"Pipeline.run: {time.perf_counter() - started:.0f} s, status {manifest['status']}")
    return manifest


def report(manifest: dict) -> None:
    data = manifest["data"]
    print(f"split {data['split_sizes']}; Keras test accuracy {manifest['keras_test_accuracy']:.4f}")
    print("| variant | size | gzip | test acc | agreement | float ops in the file |")
    print("|---|---:|---:|---:|---:|---|")
    for a in manifest["artifacts"]:
        ops = ", ".join(a.get("float_ops", [])) if a["variant"] == "int8" else ""
        print(
            f"| {a['variant']} | {a['size_bytes'] / 1024:.1f} KiB | {a['gzip_bytes'] / 1024:.1f} "
            f"KiB | {a['test_accuracy']:.4f} | {a['top1_agreement']:.4f} | {ops} |"
        )


def latency(folder: Path, rounds: int) -> None:
    from tfpipeline._keras import keras

    clip = np.random.default_rng(1).uniform(-0.3, 0.3, (1, RATE)).astype(np.float32)
    runners = {
        v: tp.Predictor.load(folder / f"model_{v}.tflite", num_threads=1).run for v in VARIANTS
    }
    model = keras.models.load_model(folder / "model.keras", compile=False)
    runners["keras (direct call)"] = lambda x: model(x, training=False).numpy()
    times = {name: [] for name in runners}
    for r in range(rounds):
        for name in list(runners) if r % 2 == 0 else list(runners)[::-1]:
            runners[name](clip)  # warm
            start = time.perf_counter()
            for _ in range(10):
                runners[name](clip)
            times[name].append((time.perf_counter() - start) / 10 * 1000)
    base = times["float32"]
    print(f"| model | ms per one-second clip (median of {rounds} rounds) | / float32 .tflite |")
    print("|---|---:|---:|")
    for name, values in times.items():
        ratio = statistics.median(v / b for v, b in zip(values, base, strict=True))
        print(f"| {name} | {statistics.median(values):.3f} | {ratio:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-word", type=int, default=80)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; load average {os.getloadavg()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = write_words(Path(tmp) / "words", args.per_word)
        print(f"data: {len(WORDS)} words x {args.per_word} synthesized WAV files")
        manifest = run(root, Path(tmp) / "run")
        report(manifest)
        print(json.dumps(manifest["int8_input"], indent=None)[:400])
        latency(Path(tmp) / "run", args.rounds)


if __name__ == "__main__":
    main()
