"""The text model bodies: the bag's masked average on texts with no word, in every
runtime, and the package's own text layers reloaded from a `.keras` file."""

import numpy as np
import pytest

from tfpipeline import Predictor, export_onnx, export_tflite
from tfpipeline._keras import keras, tf
from tfpipeline.commands import load_keras_file
from tfpipeline.config import ModelConfig
from tfpipeline.config.model import TextConfig
from tfpipeline.text_models import TEXT_BODIES, MaskedAverage, PositionEmbedding

VOCAB, LENGTH, CLASSES = 50, 8, 3


def _text_model(architecture: str = "bag") -> keras.Model:
    text = TextConfig(architecture=architecture, sequence_length=LENGTH, embedding_dim=8)
    ids = keras.Input((LENGTH,), dtype="int32", name="token_ids")
    x = TEXT_BODIES[architecture](ModelConfig(kind="text", text=text), ids, VOCAB, 1)
    outputs = keras.layers.Dense(CLASSES, activation="softmax", name="out")(x)
    return keras.Model(ids, outputs)


def _ids() -> np.ndarray:
    """A text with no word (an empty string, punctuation only: all padding), then texts."""
    rows = np.random.default_rng(0).integers(2, VOCAB, (16, LENGTH)).astype(np.int32)
    for i, kept in enumerate(np.arange(16) % LENGTH):
        rows[i, kept:] = 0
    rows[1] = 1  # unknown words only
    return rows


def test_masked_average_leaves_padding_out_and_gives_zeros_for_no_unmasked_step():
    vectors = tf.constant(
        [[[1.0, 2.0], [3.0, 4.0], [9.0, 9.0]], [[5.0, 5.0], [7.0, 7.0], [1.0, 1.0]]]
    )
    mask = tf.constant([[True, True, False], [False, False, False]])
    out = MaskedAverage()(vectors, mask=mask).numpy()
    np.testing.assert_allclose(out, [[2.0, 3.0], [0.0, 0.0]])
    np.testing.assert_allclose(MaskedAverage()(vectors).numpy()[0], [13 / 3, 5.0])


def test_a_bag_model_classifies_a_text_with_no_word_in_every_runtime(tmp_path):
    model = _text_model()
    ids = _ids()
    assert not ids[0].any()
    expected = model(ids).numpy()
    assert np.all(np.isfinite(expected))
    files = [
        export_tflite(model, tmp_path / "model_float32.tflite"),
        export_tflite(model, tmp_path / "model_int8.tflite", "int8", calibration_data=ids),
        export_onnx(model, tmp_path / "model.onnx"),
    ]
    for path in files:
        out = Predictor.load(path).predict(ids)
        assert np.all(np.isfinite(out)), path.name
        np.testing.assert_allclose(out, expected, atol=0.02 if "int8" in path.name else 1e-5)


@pytest.mark.parametrize("architecture", ["bag", "transformer"])
def test_a_text_model_with_the_package_layers_loads_back_from_its_keras_file(
    architecture, tmp_path
):
    model = _text_model(architecture)
    path = tmp_path / "model.keras"
    model.save(path)
    again = load_keras_file(path)  # checked, then loaded in safe mode
    layer = {"bag": MaskedAverage, "transformer": PositionEmbedding}[architecture]
    assert any(isinstance(x, layer) for x in again.layers)
    np.testing.assert_allclose(again(_ids()).numpy(), model(_ids()).numpy(), atol=1e-6)


def test_a_file_its_runtime_aborts_on_is_named_and_this_process_lives(tmp_path):
    """LiteRT's int16x8 kernels abort the process on the transformer (inside `invoke`):
    verification runs such a variant's first call in a child process."""
    from tfpipeline import VerificationError
    from tfpipeline.export.verify import check_runs_in_a_child, measure_artifact

    model, ids = _text_model("transformer"), _ids()
    path = export_tflite(model, tmp_path / "model_int16x8.tflite", "int16x8", calibration_data=ids)
    with pytest.raises(VerificationError, match=r"model_int16x8.tflite does not run in its runt"):
        measure_artifact(path, ids, np.zeros(16), model(ids).numpy(), 1, 0, variant="int16x8")
    with pytest.raises(VerificationError, match=r"ended the process \(SIGABRT\) on its first"):
        check_runs_in_a_child(path, ids[:1])
    cnn = export_tflite(
        _text_model("cnn"), tmp_path / "cnn.tflite", "int16x8", calibration_data=ids
    )
    check_runs_in_a_child(cnn, ids[:1])  # a file that runs passes


def test_a_variant_the_converter_fails_on_is_named_with_its_reason(tmp_path):
    from tfpipeline import ConversionError

    with pytest.raises(ConversionError, match=r"^int16x8 variant: the LiteRT converter failed on"):
        export_tflite(_text_model("bag"), tmp_path / "m.tflite", "int16x8", calibration_data=_ids())
    assert not (tmp_path / "m.tflite").exists()
