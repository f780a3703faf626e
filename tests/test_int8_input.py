"""int8 on tabular data: features in mixed units keep their normalization in float."""

import dataclasses
import json

import numpy as np
import pytest
from tabular_data import write_wide_scale_csv

from tfpipeline import (
    Pipeline,
    Predictor,
    VerificationError,
    build_model,
    check_artifact,
    export_tflite,
    load_config,
    measure_artifact,
    predict_probabilities,
    prepare_data,
    tflite_ops,
    train,
)
from tfpipeline.export.int8_input import MIN_INPUT_STEPS, input_steps, plan_int8_input

# one worker builds the module's fixtures (see pyproject's --dist loadgroup)
pytestmark = pytest.mark.xdist_group("int8_input")

TINY_RUN = {
    "train.epochs": 25,
    "compress.prune.epochs": 2,
    "export.onnx": False,
    "export.keras": False,
    "export.android": True,
    "verify.latency_runs": 5,
    "verify.latency_warmup": 1,
}


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    path = write_wide_scale_csv(tmp_path_factory.mktemp("wide") / "wide.csv")
    config = load_config(
        overrides={"data.source": "csv", "data.path": str(path), "data.label_column": "level"}
    )
    return config, prepare_data(config.data)


def test_features_1000x_apart_get_float_input_and_images_keep_int8(wide, digits):
    config, data = wide
    model = build_model(config.model, data)
    steps = input_steps(data.stats)
    assert steps[list(data.feature_names).index("tiny")] < 1  # lost under one int8 scale
    plan = plan_int8_input(model, data)
    assert plan.dtype == "float32" and plan.float_layers == ("normalization",)
    assert "'tiny'" in plan.reason and "'unit'" in plan.reason and "'huge'" not in plan.reason
    # digits: every pixel column shares the range 0-16, so one int8 scale suits all of them
    plan = plan_int8_input(build_model(config.model, digits), digits)
    assert plan.dtype == "int8" and plan.float_layers == ()
    assert input_steps(digits.stats)[digits.stats.maximum > 0].min() >= MIN_INPUT_STEPS
    # the setting overrides the decision; uint8 is kept where the input is quantized
    assert plan_int8_input(model, data, "quantized", "uint8").dtype == "uint8"
    assert plan_int8_input(build_model(config.model, digits), digits, "float").dtype == "float32"


def test_without_a_normalization_layer_the_input_stays_quantized_and_says_why(wide):
    config, data = wide
    bare = build_model(config.model, dataclasses.replace(data, normalization="none"))
    plan = plan_int8_input(bare, data)
    assert plan.dtype == "int8" and "no normalization layer" in plan.reason


@pytest.mark.slow
def test_float_normalization_keeps_the_int8_model_in_agreement(wide, tmp_path):
    config, data = wide
    model = build_model(config.model, data, seed=3)
    train(model, data, load_config(overrides={"train.epochs": 30}).train, verbose=0)
    x, y = data.splits.test.arrays()
    calibration = data.splits.train.arrays()[0]
    reference = predict_probabilities(model, x)
    kept = export_tflite(
        model, tmp_path / "kept.tflite", "int8", calibration, float_layers=["normalization"]
    )
    quantized = export_tflite(model, tmp_path / "quantized.tflite", "int8", calibration)
    ops = [op["op"] for op in tflite_ops(kept)]
    assert ops[:3] == ["SUB", "MUL", "QUANTIZE"] and "FULLY_CONNECTED" in ops
    assert [op["inputs"] for op in tflite_ops(kept)][:2] == [["float32", "float32"]] * 2
    good = measure_artifact(kept, x, y, reference, latency_runs=2, latency_warmup=0)
    bad = measure_artifact(quantized, x, y, reference, latency_runs=2, latency_warmup=0)
    assert good["top1_agreement"] >= 0.97, good
    assert bad["top1_agreement"] < 0.8, bad  # the defect the float input fixes
    verify = load_config().verify
    assert check_artifact("kept.tflite", "int8", good, verify) == []
    with pytest.raises(ValueError, match="names no layer of model 'mlp': nope"):
        export_tflite(model, tmp_path / "x.tflite", "int8", calibration, float_layers=["nope"])


def test_a_tie_in_the_reference_is_reported_and_not_held_against_int8():
    verify = load_config().verify
    figures = {"test_accuracy": 0.9, "top1_agreement": 0.9, "decisive_agreement": 1.0, "ties": 1}
    assert check_artifact("m.tflite", "int8", figures, verify) == []
    figures["decisive_agreement"] = 0.9
    (failure,) = check_artifact("m.tflite", "int8", figures, verify)
    assert failure == "m.tflite: decisive_agreement=0.9 < verify.int8_min_agreement=0.97"
    figures["max_abs_diff"] = 0.0
    (failure,) = check_artifact("m.tflite", "float32", figures, verify)
    assert "top1_agreement=0.9 < verify.float_min_agreement=1" in failure  # floats: exact


@pytest.mark.slow
def test_ties_are_counted_from_the_reference_margin(tiny_run, digits):
    run_dir, _ = tiny_run
    x, y = digits.splits.test.arrays()
    reference = np.eye(10, dtype=np.float32)[y] * 0.9 + 0.01
    reference[:3] = 0.0
    reference[:3, [1, 2]] = [0.5, 0.49]  # the reference cannot decide these three
    figures = measure_artifact(run_dir / "model_int8.tflite", x, y, reference, 2, 0)
    assert figures["ties"] == 3
    outputs = Predictor.load(run_dir / "model_int8.tflite").predict(x[3:])
    decided = np.argmax(reference[3:], 1) == np.argmax(outputs, 1)
    assert figures["decisive_agreement"] == pytest.approx(np.mean(decided))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["wine", "breast_cancer", "iris", "digits", "wide_csv"])
def test_the_default_run_ships_an_int8_model_that_agrees(name, wide, tmp_path):
    overrides = dict(TINY_RUN)
    if name == "wide_csv":
        overrides.update({f"data.{k}": v for k, v in wide[0].to_dict()["data"].items()})
    else:
        overrides["data.name"] = name
    manifest = Pipeline(load_config(overrides=overrides), log=lambda line: None, verbose=0).run(
        tmp_path / "run"
    )
    assert manifest["status"] == "passed"
    int8 = next(a for a in manifest["artifacts"] if a["variant"] == "int8")
    assert int8["decisive_agreement"] >= 0.97, int8
    assert int8["top1_agreement"] >= 0.97 or int8["ties"] > 0, int8
    # at most 2 points lost, and one test sample more per tie (quantization may tip a tie)
    tipped = int8["ties"] / manifest["data"]["split_sizes"]["test"]
    assert int8["test_accuracy"] >= manifest["compression"]["test_accuracy"] - 0.02 - tipped
    # digits' pixels share 0-16, iris' four lengths in cm each span over 70 int8 steps
    expected = {"digits": "int8", "iris": "int8"}.get(name, "float32")
    assert manifest["int8_input"]["dtype"] == expected
    card = json.loads((tmp_path / "run" / "android" / "model_card.json").read_text())
    assert card["input"]["dtype"] == expected


@pytest.mark.slow
def test_a_missed_int8_model_says_where_its_error_comes_from(wide, tmp_path):
    overrides = dict(TINY_RUN, **{"export.int8_input": "quantized", "export.android": False})
    overrides.update({f"data.{k}": v for k, v in wide[0].to_dict()["data"].items()})
    pipeline = Pipeline(load_config(overrides=overrides), log=lambda line: None, verbose=0)
    with pytest.raises(VerificationError, match="model_int8.tflite: decisive_agreement="):
        pipeline.run(tmp_path / "run")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    int8 = next(a for a in manifest["artifacts"] if a["variant"] == "int8")
    diagnosis = int8["diagnosis"]
    assert [item["feature"] for item in diagnosis["inputs"]] == ["tiny", "unit"]
    assert "`export.int8_input: float`" in diagnosis["fix"]
    worst = diagnosis["layers"][0]  # the normalization computes on an input already lost
    assert "normalization" in worst["tensor"] and worst["rmse_over_scale"] > 1
    report = (tmp_path / "run" / "report.md").read_text()
    assert "Why `model_int8.tflite` missed:" in report and "- input feature `tiny`" in report


def _model_with(extra=None):
    """Normalization -> Dense -> (an op with no int8 kernel) -> softmax, on features whose
    ranges differ 1000x; and calibration samples for it."""
    from tfpipeline._keras import keras

    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32") * [1, 10, 100, 1000]
    normalization = keras.layers.Normalization(name="normalization")
    normalization.adapt(x)
    inputs = keras.Input((4,), name="features")
    hidden = keras.layers.Dense(8, name="dense")(normalization(inputs))
    if extra is not None:
        hidden = keras.layers.Lambda(extra, name="wave")(hidden)
    outputs = keras.layers.Dense(3, activation="softmax", name="probabilities")(hidden)
    return keras.Model(inputs, outputs), x


def _float_op_warnings(model, path, calibration, float_layers=()):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export_tflite(model, path, "int8", calibration, float_layers=float_layers)
    return [str(w.message) for w in caught if "compute in float" in str(w.message)]


def test_an_int8_model_with_ops_left_in_float_warns_naming_them(tmp_path):
    from tfpipeline._keras import tf
    from tfpipeline.export.tflite import float_ops

    # LiteRT has no int8 SIN: it stays float, and is named. The normalization, kept in float
    # on purpose (`float_layers`), is not.
    model, x = _model_with(tf.math.sin)
    path = tmp_path / "sin_int8.tflite"
    assert _float_op_warnings(model, path, x, float_layers=["normalization"]) == [
        "sin_int8.tflite: op(s) SIN compute in float in the int8 model. They run slower and "
        "need float support on the device."
    ]
    assert float_ops(tflite_ops(path)) == ["SUB", "MUL", "SIN"]  # the manifest's `float_ops`

    model, x = _model_with()  # integer throughout: nothing to say
    assert _float_op_warnings(model, tmp_path / "int8.tflite", x) == []


def test_an_op_outside_litert_in_a_model_keeping_float_layers_is_refused_by_name(tmp_path):
    from tfpipeline._keras import tf
    from tfpipeline.errors import UnsupportedModelError

    model, x = _model_with(tf.math.erf)  # Erf: neither a built-in op nor one with a kernel
    path = tmp_path / "erf_int8.tflite"
    with pytest.raises(UnsupportedModelError, match="built-in op set lacks: Erf. Set `export"):
        export_tflite(model, path, "int8", x, float_layers=["normalization"])
    # Select TF ops cannot be quantized around: the float layers are calibrated in LiteRT
    with pytest.raises(UnsupportedModelError, match="keeps normalization in float.*int8_input"):
        export_tflite(model, path, "int8", x, allow_flex_ops=True, float_layers=["normalization"])
    assert not path.exists()
