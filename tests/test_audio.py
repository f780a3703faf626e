"""Audio folders (`data.source: audio_dir`), the log-mel front end and `model.kind: audio`,
on WAV files synthesized here: a tone of its own pitch per class, with a little noise."""

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from tfpipeline import ConfigError, DataError, Pipeline, Predictor, load_config, prepare_data
from tfpipeline.data.audio import AudioFormat, conform_clip, load_clip, read_wav
from tfpipeline.data.sources import load_data

# one worker builds the module's fixtures (see pyproject's --dist loadgroup)
pytestmark = pytest.mark.xdist_group("audio")

TONES = {"high": 2200.0, "low": 300.0, "mid": 900.0}
RATE = 8000


def tone(hz: float, seconds: float, rate: int = RATE, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.5 * np.sin(2 * np.pi * hz * (1 + rng.uniform(-0.05, 0.05)) * t)
    return wave + 0.02 * rng.standard_normal(len(t))


def write_pcm16(path: Path, wave: np.ndarray, rate: int = RATE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(path, rate, np.round(np.clip(wave, -1, 1) * 32767).astype(np.int16))
    return path


def write_clips(root: Path, per_class: int = 12, seed: int = 0) -> Path:
    """`root/<class>/<i>.wav`: 16-bit clips of 0.25-0.5 s at 8 kHz, one tone per class."""
    rng = np.random.default_rng(seed)
    for k, (name, hz) in enumerate(TONES.items()):
        for i in range(per_class):
            wave = tone(hz, rng.uniform(0.25, 0.5), seed=seed * 1000 + k * 100 + i)
            write_pcm16(root / name / f"{i}.wav", wave)
    return root


def audio_config(root: Path, **overrides):
    return load_config(
        overrides={
            "data.source": "audio_dir",
            "data.path": str(root),
            "data.audio.sample_rate": RATE,
            "data.audio.clip_seconds": 0.5,
            "data.split.train": 0.6,
            "data.split.val": 0.15,
            "data.split.test": 0.25,
            **overrides,
        }
    )


def test_wav_files_of_every_sample_format_read_alike(tmp_path):
    wave = tone(440, 0.1)
    pcm16 = np.round(wave * 32767).astype(np.int16)
    wavfile.write(tmp_path / "16.wav", RATE, pcm16)
    wavfile.write(tmp_path / "f32.wav", RATE, wave.astype(np.float32))
    wavfile.write(tmp_path / "f64.wav", RATE, wave)
    wavfile.write(tmp_path / "32.wav", RATE, pcm16.astype(np.int32) << 16)
    wavfile.write(tmp_path / "8.wav", RATE, (np.round(wave * 127) + 128).astype(np.uint8))
    stereo = np.stack([pcm16, np.zeros_like(pcm16)], axis=1)
    wavfile.write(tmp_path / "stereo.wav", RATE, stereo)
    expected = pcm16 / 32768.0
    for name, tolerance in (("16", 1e-7), ("f32", 1e-4), ("f64", 1e-4), ("32", 1e-7)):
        samples, rate = read_wav(tmp_path / f"{name}.wav")
        assert rate == RATE and samples.dtype == np.float32
        np.testing.assert_allclose(samples, expected, atol=tolerance, err_msg=name)
    np.testing.assert_allclose(read_wav(tmp_path / "8.wav")[0], expected, atol=2 / 128)
    np.testing.assert_allclose(read_wav(tmp_path / "stereo.wav")[0], expected / 2, atol=1e-7)
    # 24-bit PCM, written by hand (scipy writes no 24-bit files)
    pcm24 = (pcm16.astype(np.int32) << 8).astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
    header = _wav_header(RATE, 3, len(pcm16))
    (tmp_path / "24.wav").write_bytes(header + pcm24.tobytes())
    np.testing.assert_allclose(read_wav(tmp_path / "24.wav")[0], expected, atol=1e-7)


def _wav_header(rate: int, width: int, frames: int) -> bytes:
    import struct

    data = frames * width
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * width, width, width * 8)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data)
        + b"WAVEfmt "
        + struct.pack("<I", 16)
        + fmt
        + (b"data" + struct.pack("<I", data))
    )


def test_corrupt_rates_and_non_finite_samples_are_refused_by_name(tmp_path):
    bad_rate = tmp_path / "zero_rate.wav"
    bad_rate.write_bytes(_wav_header(0, 2, 100) + bytes(200))
    huge_rate = tmp_path / "huge_rate.wav"
    huge_rate.write_bytes(_wav_header(2**31 - 1, 2, 100) + bytes(200))
    for path in (bad_rate, huge_rate):
        with pytest.raises(DataError, match=rf"{path.name}.*(sample rate|nSamplesPerSec)"):
            load_clip(path, AudioFormat(RATE, 0.5))
    nan = tmp_path / "nan.wav"
    wavfile.write(nan, RATE, np.array([np.nan, np.inf, 0.5] * 100, dtype=np.float32))
    with pytest.raises(DataError, match="nan.wav holds NaN or infinite samples"):
        read_wav(nan)
    with pytest.raises(DataError, match="declares a sample rate of 0 Hz"):
        conform_clip(np.zeros(10, np.float32), 0, AudioFormat(RATE, 0.5))


def test_clips_are_resampled_padded_and_trimmed(tmp_path):
    audio = AudioFormat(RATE, 0.5)
    short = write_pcm16(tmp_path / "short.wav", tone(300, 0.25))
    clip = load_clip(short, audio)
    assert clip.shape == (4000,) and not clip[2000:].any() and clip[:2000].any()
    long = write_pcm16(tmp_path / "long.wav", tone(300, 0.75))
    np.testing.assert_allclose(load_clip(long, audio), read_wav(long)[0][:4000])
    fast = write_pcm16(tmp_path / "fast.wav", tone(300, 0.5, rate=16000), rate=16000)
    resampled = load_clip(fast, audio)
    assert resampled.shape == (4000,)
    spectrum = np.abs(np.fft.rfft(resampled))
    assert abs(np.argmax(spectrum) * RATE / 4000 - 300) < 20  # the tone kept its pitch
    with pytest.raises(DataError, match=r"fast.wav is sampled at 16000 Hz.*resample: true"):
        load_clip(fast, AudioFormat(RATE, 0.5, resample=False))


def test_loading_names_unreadable_files_and_skips_noise_and_duplicates(tmp_path):
    root = write_clips(tmp_path / "words", per_class=6)
    (root / "low" / "broken.wav").write_bytes(b"RIFF nothing")
    (root / "mid" / "empty.wav").write_bytes(b"")
    (root / "mid" / "notes.txt").write_text("not audio")
    write_pcm16(root / "_background_noise_" / "hum.wav", 0.1 * tone(50, 1.0))
    (root / "high" / "copy.wav").write_bytes((root / "high" / "0.wav").read_bytes())
    write_pcm16(root / "high" / "stereo_8k.wav", tone(2200, 0.3))
    write_pcm16(root / "loose.wav", tone(300, 0.3))  # no class folder
    with pytest.warns(UserWarning) as caught:
        loaded = load_data(audio_config(root).data)
    shown = [str(w.message) for w in caught]
    assert any("skipped 1 file(s) that are not .wav (1 .txt)" in m for m in shown), shown
    assert any("left out 1 clip file(s)" in m and "loose.wav" in m for m in shown), shown
    assert sorted(set(loaded.labels)) == ["high", "low", "mid"]  # _background_noise_ is none
    assert sorted(Path(f).name for f in loaded.notes["unreadable_files"]) == [
        "broken.wav",
        "empty.wav",
    ]
    assert loaded.samples.noise_paths[0].endswith("hum.wav")
    data = prepare_data(audio_config(root).data)
    assert data.cleaning["unreadable_files"] == 2 and data.cleaning["duplicate_rows"] == 1
    assert data.feature_shape == (4000,)


def test_another_rate_is_refused_by_name_unless_resampled(tmp_path):
    root = write_clips(tmp_path / "words", per_class=6)
    write_pcm16(root / "low" / "studio.wav", tone(300, 0.4, rate=16000), rate=16000)
    with pytest.raises(DataError, match=r"studio.wav is sampled at 16000 Hz"):
        load_data(audio_config(root, **{"data.audio.resample": False}).data)
    assert len(load_data(audio_config(root).data).labels) == 19


def test_augmentation_changes_training_batches_only(tmp_path):
    root = write_clips(tmp_path / "words", per_class=6)
    write_pcm16(root / "_background_noise_" / "hum.wav", 0.3 * tone(50, 1.0))
    plain = prepare_data(audio_config(root).data)
    augmented = prepare_data(
        audio_config(
            root,
            **{
                "data.augment.time_shift": 0.2,
                "data.augment.gain": 0.2,
                "data.augment.background_noise": 0.1,
            },
        ).data
    )
    assert plain.augment is None and augmented.augment is not None

    def first(data, split, training):
        x, y = next(iter(data.dataset(split, 64, training=training)))
        order = np.argsort(y.numpy(), kind="stable")
        return np.sort(x.numpy()[order], axis=1)

    train_plain, train_aug = first(plain, "train", True), first(augmented, "train", True)
    assert np.abs(train_plain - train_aug).max() > 1e-3
    assert np.abs(train_aug).max() <= 1.0
    np.testing.assert_array_equal(first(plain, "test", False), first(augmented, "test", False))
    with pytest.raises(ConfigError, match="data.augment.noise` applies to images or feature"):
        prepare_data(audio_config(root, **{"data.augment.noise": 0.1}).data)
    with pytest.raises(ConfigError, match="data.augment.time_shift` applies to audio clips"):
        load = load_config(overrides={"data.augment.time_shift": 0.1})
        prepare_data(load.data)


def test_front_end_in_keras_matches_the_float32_tflite(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from tfpipeline._keras import keras
    from tfpipeline.audio_frontend import FrontEnd, LogMelSpectrogram, front_end
    from tfpipeline.export.tflite import export_tflite

    settings = FrontEnd.from_config(load_config().model.audio, RATE, 4000)
    inputs = keras.Input((4000,), name="features")
    model = keras.Model(inputs, front_end(settings)(inputs))
    x = np.stack([tone(hz, 0.5, seed=i) for i, hz in enumerate(TONES.values())])
    x = x.astype(np.float32)
    path = export_tflite(model, tmp_path / "front_end.tflite")
    interpreter = Interpreter(model_path=str(path))
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, x)
    interpreter.invoke()
    lite = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    expected = model(x).numpy()
    assert expected.shape == (3, settings.frames(4000), 40)
    np.testing.assert_allclose(lite, expected, atol=1e-4)
    # the same spectrogram in NumPy: periodic Hann frames, |rfft|, mel matrix, log
    frame, step, fft = settings.frame_length, settings.frame_step, settings.fft_length
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame) / frame)
    starts = range(0, 4000 - frame + 1, step)
    frames = np.stack([x[0, i : i + frame] * window for i in starts])
    mel = np.abs(np.fft.rfft(frames, n=fft)) @ model.layers[-1].mel_matrix.numpy()
    np.testing.assert_allclose(expected[0], np.log(mel + 1e-6), atol=2e-3)
    layer = LogMelSpectrogram(RATE, 200, 100, 256, 20, 50.0, 3000.0, log_offset=1e-3)
    config = layer.get_config()
    clone = LogMelSpectrogram.from_config(config)
    assert clone.get_config() == config and clone.log_offset == 1e-3  # exact inverses
    np.testing.assert_allclose(clone(x).numpy(), layer(x).numpy())
    with pytest.raises(ConfigError, match="model.audio.frame_ms"):
        FrontEnd.from_config(load_config().model.audio, RATE, 100)


def test_onnx_export_of_the_front_end_is_refused_by_name_and_still_cannot_convert(tmp_path):
    import tf2onnx

    from tfpipeline import UnsupportedModelError
    from tfpipeline._keras import keras, tf
    from tfpipeline.audio_frontend import FrontEnd, front_end
    from tfpipeline.export.onnx import export_onnx

    settings = FrontEnd.from_config(load_config().model.audio, RATE, 4000)
    inputs = keras.Input((4000,), name="features")
    model = keras.Model(inputs, front_end(settings)(inputs))
    with pytest.raises(UnsupportedModelError, match="cannot be exported to ONNX: tf2onnx"):
        export_onnx(model, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()
    # The reason still holds: when tf2onnx converts it with a dynamic batch, allow ONNX.
    import onnx

    with pytest.raises(Exception, match="ComplexAbs"):
        spec = tf.TensorSpec([None, 4000], tf.float32, name="features")
        proto, _ = tf2onnx.convert.from_keras(model, input_signature=[spec], opset=17)
        onnx.checker.check_model(proto, full_check=True)


def test_mel_filters_without_an_fft_bin_are_warned_of():
    from tfpipeline.audio_frontend import FrontEnd
    from tfpipeline.config.model import AudioModelConfig

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FrontEnd.from_config(AudioModelConfig(), RATE, 4000)  # the defaults fill every filter
    with pytest.warns(UserWarning, match=r"mel_bins`: 85 of 300 mel filters hold no FFT bin"):
        FrontEnd.from_config(AudioModelConfig(mel_bins=300), RATE, 4000)


def test_audio_settings_that_cannot_work_are_refused_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match="model.kind: audio` needs audio clips"):
        load_config(overrides={"model.kind": "audio"})
    with pytest.raises(ConfigError, match=r"upper_hz <= half of data.audio.sample_rate \(4000"):
        audio_config(tmp_path, **{"model.kind": "audio", "model.audio.upper_hz": 6000})
    with pytest.raises(ConfigError, match="`data.path` is required"):
        load_config(overrides={"data.source": "audio_dir"})
    with pytest.raises(DataError, match="needs at least two class sub-folders"):
        write_pcm16(tmp_path / "one" / "yes" / "a.wav", tone(300, 0.3))
        write_pcm16(tmp_path / "one" / "_background_noise_" / "n.wav", tone(50, 0.3))
        load_data(audio_config(tmp_path / "one").data)


@pytest.fixture(scope="module")
def audio_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio")
    root = write_clips(folder / "words")
    config = audio_config(
        root,
        **{
            "model.kind": "audio",
            "model.filters": [8, 16],
            "model.hidden_units": [16],
            "train.epochs": 15,
            "train.batch_size": 8,
            "train.learning_rate": 0.01,
            "compress.prune.epochs": 1,
            "export.tflite": ["float32", "float16", "dynamic", "int8"],
            "export.android": True,
            "export.onnx_int8": True,  # refused with the rest of ONNX, and said so
            "verify.latency_runs": 3,
            "verify.latency_warmup": 0,
        },
    )
    lines = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        manifest = Pipeline(config, log=lines.append, verbose=0).run(folder / "run")
    return folder, manifest, lines, caught


@pytest.mark.slow
def test_audio_pipeline_reaches_a_verified_int8_bundle(audio_run, tmp_path):
    folder, manifest, lines, caught = audio_run
    run_dir = folder / "run"
    record = json.loads((run_dir / "manifest.json").read_text())
    assert record["status"] == "passed", record["failures"]
    assert record["keras_test_accuracy"] >= 0.9
    artifacts = {a["path"]: a for a in record["artifacts"]}
    assert set(artifacts) >= {"model_float32.tflite", "model_int8.tflite"}
    assert not any(a["format"] == "onnx" for a in record["artifacts"])
    refused = "onnx: not exported (model.onnx, model_int8.onnx): tf2onnx"
    assert any(refused in line and "ComplexAbs" in line for line in lines), lines
    int8 = artifacts["model_int8.tflite"]
    assert int8["passed"] and int8["test_accuracy"] >= 0.9
    assert {"RFFT2D", "COMPLEX_ABS", "LOG"} <= set(int8["float_ops"])
    assert "CONV_2D" in int8["ops"] and "CONV_2D" not in int8["float_ops"]
    assert record["int8_input"]["float_layers"] == ["log_mel", "log_mel_normalization"]
    assert not [w for w in caught if "compute in float" in str(w.message)]
    report = (run_dir / "report.md").read_text()
    assert "Ops that compute in float in model_int8.tflite: " in report and "RFFT2D" in report
    assert "ONNX: not exported: tf2onnx cannot convert" in report
    card = json.loads((run_dir / "android" / "model_card.json").read_text())
    spec = card["input"]
    assert spec["kind"] == "audio" and spec["layout"] == "[batch, samples]"
    assert spec["sample_rate"] == RATE and spec["samples"] == 4000
    assert spec["sample_format"].startswith("float32 in [-1, 1]: 16-bit PCM divided by 32768")
    assert spec["front_end"]["frame_length"] == 240 and spec["front_end"]["fft_length"] == 256
    assert spec["int8_input"]["dtype"] == "float32" and "ComplexAbs" in spec["onnx"]
    assert {"RFFT2D", "COMPLEX_ABS", "LOG"} <= set(spec["int8_input"]["float_ops"])
    predictor = Predictor.load(run_dir / "android" / "model.tflite")
    clip = write_pcm16(tmp_path / "some.wav", tone(900, 0.3, seed=99))
    assert predictor.predict_classes([str(clip)]) == ["mid"]
    stereo_16k = np.stack([tone(2200, 0.5, 16000, seed=7)] * 2, axis=1)
    wavfile.write(tmp_path / "s.wav", 16000, stereo_16k.astype(np.float32))
    assert predictor.predict_classes(tmp_path / "s.wav") == ["high"]
    at_16k = tone(900, 0.5, 16000, seed=8)
    assert predictor.predict_classes((at_16k, 16000)) == ["mid"]
    samples = tone(300, 0.4, seed=5).astype(np.float32)
    assert predictor.predict_classes(samples) == ["low"]
    # (samples, channels), as a WAV reader gives it: one clip, mixed to mono
    assert predictor.predict_classes(np.stack([samples, samples], axis=1)) == ["low"]
    np.testing.assert_allclose(
        predictor.predict(samples), predictor.predict(np.pad(samples, (0, 800))[None]), atol=1e-6
    )
    pcm = np.round(samples * 32767).astype(np.int16)
    assert predictor.predict_classes(pcm) == ["low"]  # integer PCM: scaled as a file is
    unscaled = r"must lie in \[-1, 1\].*Received a peak of [0-9.e+]+\. Divide 16-bit PCM by 32768"
    with pytest.raises(DataError, match=unscaled):  # not clipped to a square wave
        predictor.predict(pcm.astype(np.float32))
    with pytest.raises(DataError, match=unscaled):
        predictor.predict((pcm.astype(np.float64), RATE))
    result = subprocess.run(
        [sys.executable, "-m", "tfpipeline", "predict", str(run_dir / "android" / "model.tflite"),
         str(clip)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "mid" in result.stdout


@pytest.mark.slow
def test_saved_audio_model_reloads_with_its_front_end(audio_run):
    folder, _, _, _ = audio_run
    path = folder / "run" / "model.keras"
    x = tone(900, 0.5).astype(np.float32)[None]
    np.save(folder / "x.npy", x)
    script = (
        "import sys, numpy as np, tfpipeline\n"
        "from tfpipeline.commands import load_keras_file\n"
        "model = load_keras_file(__import__('pathlib').Path(sys.argv[1]))\n"
        "print(type(model.get_layer('log_mel')).__name__)\n"
        "np.save(sys.argv[3], model(np.load(sys.argv[2])).numpy())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path), str(folder / "x.npy"), str(folder / "y.npy")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "LogMelSpectrogram" in result.stdout
    from tfpipeline._keras import keras

    original = keras.models.load_model(path)
    np.testing.assert_allclose(np.load(folder / "y.npy"), original(x).numpy(), atol=1e-6)


@pytest.mark.slow
def test_a_sweep_bundle_of_an_audio_model_describes_its_front_end(audio_run, tmp_path):
    from tfpipeline._keras import keras
    from tfpipeline.sweep_bundle import bundle_variant

    folder, _, _, _ = audio_run
    run_dir = folder / "run"
    config = load_config(run_dir / "run_config.yaml")
    data = prepare_data(config.data)
    model = keras.models.load_model(run_dir / "model.keras")
    (tmp_path / "variants").mkdir()
    (tmp_path / "variants" / "v.tflite").write_bytes(
        (run_dir / "model_float32.tflite").read_bytes()
    )
    row = {"name": "float32", "path": "variants/v.tflite", "tflite": "float32", "qat": False}
    # (model.keras is the model before pruning: the file's own outputs are the reference)
    reference = Predictor.load(tmp_path / row["path"]).predict(data.splits.test.arrays()[0])
    chosen = bundle_variant(row, tmp_path, data, config, reference, log=print, model=model)
    card = json.loads((chosen / "android" / "model_card.json").read_text())
    assert card["input"]["front_end"]["fft_length"] == 256
