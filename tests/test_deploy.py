"""Deployment: every variant through Predictor, the Android bundle, the gate, the commands."""

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from test_pipeline import check_timing_figures

from tfpipeline import (
    DataError,
    Pipeline,
    Predictor,
    TfpipelineError,
    UnsupportedModelError,
    export_tflite,
    load_config,
    prepare_data,
)
from tfpipeline._keras import keras, tf
from tfpipeline.export.tflite import float_ops, tflite_ops

# one worker builds the module's fixtures (see pyproject's --dist loadgroup)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("deploy")]

VARIANTS = ["float32", "float16", "dynamic", "int8", "int16x8"]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, tiny_config):
    """A tiny run exporting every format, the ONNX copies and the Android bundle."""
    config = load_config(
        tiny_config.to_dict(),
        overrides={
            "export.tflite": VARIANTS,
            "export.onnx_optimized": True,
            "export.onnx_int8": True,
            "export.android": True,
        },
    )
    run_dir = tmp_path_factory.mktemp("deploy") / "run"
    manifest = Pipeline(config, log=lambda line: None, verbose=0).run(run_dir)
    return run_dir, manifest


def test_every_artifact_passes_and_runs_through_predictor(full_run, digits):
    run_dir, manifest = full_run
    names = [a["path"] for a in manifest["artifacts"]]
    assert names == [
        "saved_model",
        *(f"model_{v}.tflite" for v in VARIANTS),
        "model.onnx",
        "model_optimized.onnx",
        "model_int8.onnx",
    ]
    assert all(a["passed"] for a in manifest["artifacts"])
    x, y = digits.splits.test.arrays()
    for artifact in manifest["artifacts"]:
        path = run_dir / artifact["path"]
        predictor = Predictor.load(path, num_threads=1)
        outputs = predictor.predict(x)
        assert outputs.shape == (len(x), 10)
        assert np.mean(outputs.argmax(1) == y) == pytest.approx(artifact["test_accuracy"])
        if "dynamic" not in path.name and "int8.onnx" not in path.name:
            # (dynamic quantization scales each batch by its own range, so slices differ)
            sliced = Predictor.load(path, batch_size=7).predict(x)  # run in slices of 7
            np.testing.assert_allclose(sliced, outputs, atol=1e-5)
        classes = predictor.predict_classes(x[:5])
        assert classes == [str(i) for i in outputs[:5].argmax(1)]  # names from labels.txt
        assert predictor.predict(x[0]).shape == (1, 10)  # one sample without a batch axis
    check_timing_figures(manifest)


def test_tflite_ops_are_listed_and_int8_is_integer_throughout(full_run):
    run_dir, manifest = full_run
    by_path = {a["path"]: a for a in manifest["artifacts"]}
    int8 = by_path["model_int8.tflite"]
    assert int8["ops"]["FULLY_CONNECTED"] == 3 and int8["float_ops"] == []
    ops = tflite_ops(run_dir / "model_float32.tflite")
    assert [op["op"] for op in ops].count("FULLY_CONNECTED") == 3
    assert "FULLY_CONNECTED" in float_ops(ops)  # a float model computes in float


def test_android_bundle_card_matches_the_interpreter(full_run):
    run_dir, manifest = full_run
    bundle = run_dir / "android"
    card = json.loads((bundle / "model_card.json").read_text())
    assert manifest["android"] == {"written": True, "variant": "int8", "path": "android"}
    assert (bundle / "model.tflite").read_bytes() == (run_dir / "model_int8.tflite").read_bytes()
    assert (bundle / "labels.txt").read_text() == (run_dir / "labels.txt").read_text()
    interpreter = Interpreter(model_path=str(bundle / "model.tflite"))
    for side, details in (
        ("input", interpreter.get_input_details()[0]),
        ("output", interpreter.get_output_details()[0]),
    ):
        described = card[side]
        assert described["tensor_name"] == details["name"]
        assert described["shape"] == details["shape_signature"].tolist()
        assert described["dtype"] == np.dtype(details["dtype"]).name == "int8"
        scale, zero_point = details["quantization"]
        assert described["quantization"]["scale"] == pytest.approx(scale)
        assert described["quantization"]["zero_point"] == zero_point
    assert interpreter.get_signature_list() == {
        "serving_default": {"inputs": ["features"], "outputs": ["probabilities"]}
    }
    assert card["input"]["value_range"] == [0.0, 16.0]
    assert card["output"]["labels"] == [str(i) for i in range(10)]
    assert card["model"]["test_accuracy"] == manifest["artifacts"][4]["test_accuracy"]
    predictor = Predictor.load(bundle / "model.tflite")  # sha256 checked against the card
    with pytest.raises(DataError, match="far outside the raw values .*pixel_0_1 = 255 in sample 0"):
        predictor.predict(np.full((1, 64), 255.0))


def test_the_keras_file_is_the_trained_model(full_run, digits):
    run_dir, manifest = full_run
    model = keras.models.load_model(run_dir / "model.keras")
    x, y = digits.splits.test.arrays()
    accuracy = np.mean(model.predict(x, verbose=0).argmax(1) == y)
    assert accuracy == pytest.approx(manifest["keras_test_accuracy"])


def test_a_changed_file_and_a_truncated_file_are_refused(full_run, tmp_path):
    run_dir, _ = full_run
    bundle = tmp_path / "android"
    shutil.copytree(run_dir / "android", bundle)
    with open(bundle / "model.tflite", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(TfpipelineError, match="does not match the sha256 recorded in"):
        Predictor.load(bundle / "model.tflite")
    copy = tmp_path / "copy"  # a SavedModel's sha256 ignores permissions, not bytes
    copy.mkdir()
    shutil.copy(run_dir / "manifest.json", copy)
    shutil.copytree(run_dir / "saved_model", copy / "saved_model")
    (copy / "saved_model" / "saved_model.pb").chmod(0o600)
    Predictor.load(copy / "saved_model")
    with open(copy / "saved_model" / "saved_model.pb", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(TfpipelineError, match="does not match the sha256 recorded in"):
        Predictor.load(copy / "saved_model")
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes((run_dir / "model_int8.tflite").read_bytes()[:2000])
    with pytest.raises(TfpipelineError, match="truncated.tflite is not a readable .tflite"):
        Predictor.load(truncated)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes((run_dir / "model.onnx").read_bytes()[:500])
    with pytest.raises(TfpipelineError, match="broken.onnx is not a readable .onnx"):
        Predictor.load(broken)


def test_bad_inputs_get_clear_errors(full_run):
    run_dir, _ = full_run
    predictor = Predictor.load(run_dir / "model.onnx")
    with pytest.raises(DataError, match=r"must have shape \(n, 64\) or \(64,\).*\(2, 63\)"):
        predictor.predict(np.zeros((2, 63)))
    with pytest.raises(DataError, match="must be numeric"):
        predictor.predict(np.array([["a"] * 64]))
    with pytest.raises(DataError, match="NaN or infinite"):
        predictor.predict(np.full((1, 64), np.nan))


def test_models_that_do_not_fit_the_exporters_are_refused(tmp_path):
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    joined = keras.layers.Concatenate()([a, b])
    two_inputs = keras.Model([a, b], keras.layers.Dense(2)(joined))
    with pytest.raises(UnsupportedModelError, match="has 2 inputs \\(a, b\\)"):
        export_tflite(two_inputs, tmp_path / "two.tflite")

    def inverse(t):
        return tf.reshape(tf.linalg.inv(tf.reshape(t, (-1, 2, 2)) + 3 * tf.eye(2)), (-1, 4))

    inputs = keras.Input((4,), name="features")
    flex = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Lambda(inverse)(inputs)))
    with pytest.raises(UnsupportedModelError, match="lacks: MatrixInverse. Set `export.allow_fl"):
        export_tflite(flex, tmp_path / "flex.tflite")
    assert not (tmp_path / "flex.tflite").exists()
    path = export_tflite(flex, tmp_path / "flex.tflite", allow_flex_ops=True)
    assert b"FlexMatrixInverse" in path.read_bytes()
    unsupported = keras.Model(inputs, keras.layers.Lambda(tf.math.digamma)(inputs))
    with pytest.raises(UnsupportedModelError, match="nor its Select TF ops support: Digamma"):
        export_tflite(unsupported, tmp_path / "digamma.tflite", allow_flex_ops=True)

    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(TfpipelineError, match="cannot be created or written"):
        export_tflite(flex, not_a_folder / "out" / "m.tflite", allow_flex_ops=True)


def tfpipeline_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "tfpipeline", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_verify_predict_and_benchmark_commands(full_run, tmp_path, digits):
    run_dir, manifest = full_run
    result = tfpipeline_cli(
        "verify", run_dir / "model_int8.tflite", "--set", "verify.latency_runs=5"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"reference: {run_dir / 'saved_model'}" in result.stdout
    accuracy = manifest["artifacts"][4]["test_accuracy"]
    assert f"test_accuracy: {accuracy:.6g}" in result.stdout and "passed" in result.stdout
    strict = tfpipeline_cli(
        "verify", run_dir / "model_int8.tflite", "--set", "verify.int8_min_agreement=1.01"
    )
    assert strict.returncode == 2 and "verify.int8_min_agreement" in strict.stderr
    failing = tfpipeline_cli(
        "verify", run_dir / "model_int8.tflite", "--set", "verify.min_accuracy=1.0"
    )
    assert failing.returncode == 1 and "FAIL model_int8.tflite: test_accuracy=" in failing.stdout
    assert (run_dir / "model_int8.tflite").exists()  # verify never removes a user's file

    samples = tmp_path / "three.npy"
    np.save(samples, digits.splits.test.arrays()[0][:3])
    predicted = tfpipeline_cli("predict", run_dir / "android" / "model.tflite", samples)
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    lines = predicted.stdout.strip().splitlines()
    expected = Predictor.load(run_dir / "android" / "model.tflite").predict_classes(
        np.load(samples)
    )
    assert [line.split()[1] for line in lines] == expected

    timed = tfpipeline_cli(
        "benchmark", run_dir / "model_int8.tflite", run_dir / "model.onnx", "--runs", "20",
        "--keras", run_dir / "model.keras", "--input", samples,
    )  # fmt: skip
    assert timed.returncode == 0, timed.stderr[-2000:]
    assert "| model_int8.tflite" in timed.stdout.replace(str(run_dir) + "/", "")
    assert "(Keras predict)" in timed.stdout and "(Keras direct call)" in timed.stdout


def test_verify_judges_the_data_and_the_reference_it_is_given(full_run, tmp_path):
    """`verify --data CSV --reference MODEL`: figures of that data's test split, against that
    model's outputs, each as the runtimes give them."""
    from sklearn.datasets import load_digits

    run_dir, _ = full_run
    digits = load_digits()  # every third image: other data than the run's, split its own way
    header = [f"pixel_{i}_{j}" for i in range(8) for j in range(8)] + ["label"]
    rows = [",".join(header)] + [
        ",".join(f"{v:g}" for v in (*pixels, label))
        for pixels, label in zip(digits.data[1::3], digits.target[1::3], strict=True)
    ]
    data = tmp_path / "thirds.csv"
    data.write_text("\n".join(rows) + "\n")
    model, reference = run_dir / "model_int8.tflite", run_dir / "model_float16.tflite"
    result = tfpipeline_cli(
        "verify", model, "--data", data, "--reference", reference,
        "--set", "verify.latency_runs=5",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    printed = dict(re.findall(r"^  (\w+): (\S+)$", result.stdout, flags=re.M))

    config = load_config(
        run_dir / "run_config.yaml", overrides=["data.source=csv", f"data.path={data}"]
    )
    x, y = prepare_data(config.data).splits.test.arrays()
    outputs = Predictor.load(model).predict(x)
    expected = Predictor.load(reference).predict(x)
    assert f"reference: {reference} (float outputs compared)" in result.stdout
    assert f"{model} (int8) on {len(y)} test samples of thirds:" in result.stdout
    assert len(y) == 60  # a tenth of the 599 rows, not the run's 180 test samples
    assert float(printed["test_accuracy"]) == pytest.approx(np.mean(outputs.argmax(1) == y))
    agreement = np.mean(outputs.argmax(1) == expected.argmax(1))
    assert float(printed["top1_agreement"]) == pytest.approx(agreement, rel=1e-5)
    difference = np.abs(outputs - expected).max()  # float16's outputs, not the SavedModel's
    assert float(printed["max_abs_diff"]) == pytest.approx(difference, rel=1e-5)
    assert result.stdout.rstrip().endswith("passed")
