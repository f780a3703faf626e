"""The verification gate and the config's number keys, judged figure by figure: each test
fails if a threshold is compared with the wrong setting or loosened, or a boolean passes
for a number."""

import dataclasses
import types
import typing

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from tfpipeline import ConfigError, load_config
from tfpipeline._schema import field_types
from tfpipeline.config import PipelineConfig
from tfpipeline.export.verify import check_artifact, measure_artifact

VERIFY = load_config().verify
INTEGER_VARIANTS = ("int8", "dynamic", "int16x8")


def classification(agreement=1.0, max_abs_diff=0.0, accuracy=0.99):
    return {
        "test_accuracy": accuracy,
        "top1_agreement": agreement,
        "decisive_agreement": agreement,
        "ties": 0,
        "max_abs_diff": max_abs_diff,
    }


def test_the_shipped_tolerances_are_the_documented_ones():
    assert VERIFY.float_max_abs_diff == 1e-4 and VERIFY.float16_max_abs_diff == 1e-2
    assert VERIFY.int8_min_agreement == 0.97 and VERIFY.float_min_agreement == 1.0


@pytest.mark.parametrize("variant", INTEGER_VARIANTS)
def test_every_quantized_variant_is_held_to_int8_min_agreement(variant):
    assert check_artifact("m", variant, classification(0.97, 0.4), VERIFY) == []
    (failure,) = check_artifact("m", variant, classification(0.96, 0.4), VERIFY)
    assert failure == "m: decisive_agreement=0.96 < verify.int8_min_agreement=0.97"
    # judged on the decisive samples: a tie may go either way
    figures = {**classification(0.95, 0.4), "decisive_agreement": 1.0}
    assert check_artifact("m", variant, figures, VERIFY) == []


@pytest.mark.parametrize(
    ("variant", "passes", "fails", "key"),
    [
        ("float32", 1e-4, 2e-4, "float_max_abs_diff=0.0001"),
        ("float16", 1e-2, 2e-2, "float16_max_abs_diff=0.01"),
    ],
)
def test_each_float_variant_is_held_to_its_own_tolerance(variant, passes, fails, key):
    assert check_artifact("m", variant, classification(max_abs_diff=passes), VERIFY) == []
    (failure,) = check_artifact("m", variant, classification(max_abs_diff=fails), VERIFY)
    assert failure.endswith(f"> verify.{key}")
    (failure,) = check_artifact("m", variant, classification(0.99, passes), VERIFY)
    assert failure.endswith("< verify.float_min_agreement=1")


def test_a_figure_at_its_limit_passes():
    config = dataclasses.replace(VERIFY, min_accuracy=0.9)
    assert check_artifact("m", "float32", classification(1.0, 1e-4, 0.9), config) == []
    regression = {"test_mae": 1.0, "keras_test_mae": 1.0, "max_abs_diff": 1.0, "max_rel_diff": 1e-4}
    assert check_artifact("m", "float32", regression, VERIFY) == []


def test_without_decisive_samples_counted_agreement_is_judged_on_every_sample():
    figures = classification(0.96, 0.4)
    del figures["decisive_agreement"]
    (failure,) = check_artifact("m", "int8", figures, VERIFY)
    assert failure == "m: top1_agreement=0.96 < verify.int8_min_agreement=0.97"
    assert check_artifact("m", "int8", {**figures, "top1_agreement": 0.97}, VERIFY) == []


def test_a_quantization_aware_model_is_judged_as_the_integer_variants():
    figures = classification(0.98, 0.05)
    assert check_artifact("m", "float32", figures, VERIFY, quantization_aware=True) == []
    assert len(check_artifact("m", "float32", figures, VERIFY)) == 2  # diff and agreement


def test_min_accuracy_is_judged_for_every_variant():
    config = dataclasses.replace(VERIFY, min_accuracy=0.9)
    for variant in ("float32", "float16", *INTEGER_VARIANTS):
        (failure,) = check_artifact("m", variant, classification(accuracy=0.85), config)
        assert failure == "m: test_accuracy=0.85 < verify.min_accuracy=0.9"


def test_regression_is_held_to_the_mae_increase_and_the_mean_predictor():
    figures = {"test_mae": 1.1, "keras_test_mae": 1.0, "max_abs_diff": 0.5, "max_rel_diff": 0.5}
    assert check_artifact("m", "int8", figures, VERIFY) == []  # 10% more: the limit
    (failure,) = check_artifact("m", "int8", {**figures, "test_mae": 1.11}, VERIFY)
    assert "verify.int8_max_mae_increase=0.1" in failure
    (failure,) = check_artifact("m", "float32", {**figures, "max_rel_diff": 2e-4}, VERIFY)
    assert failure.endswith("> verify.float_max_abs_diff=0.0001")
    beaten = {**figures, "baseline_test_mae": 1.1}
    (failure,) = check_artifact("m", "int8", beaten, VERIFY)
    assert failure == (
        "m: test_mae=1.1 >= baseline_test_mae=1.1: no better than always predicting the "
        "training mean (train longer or differently; verify.regression_must_beat_baseline: "
        "false turns this check off)"
    )
    off = dataclasses.replace(VERIFY, regression_must_beat_baseline=False)
    assert check_artifact("m", "int8", beaten, off) == []
    quantization_aware = {**figures, "max_rel_diff": 2e-4}  # judged by its MAE, as int8
    assert check_artifact("m", "float32", quantization_aware, VERIFY, True) == []


# --- measuring an artifact in its runtime ------------------------------------------------


def _onnx_file(path, op, width):
    """A one-op ONNX model (`Softmax` or `Identity`) on `width` float inputs."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, width])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, width])
    graph = helper.make_graph([helper.make_node(op, ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_classification_figures_are_measured_against_the_reference(tmp_path, monkeypatch):
    from tfpipeline.export import verify

    outputs = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1]])
    reference = np.array(
        [[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.34, 0.33, 0.33], [0.625, 0.375, 0.0]]
    )  # classes 0, 2, 0 (a tie: 0.01 apart), 0 (0.25 apart)
    uncompressed = np.eye(3)[[0, 0, 2, 0]]
    path = _onnx_file(tmp_path / "softmax.onnx", "Softmax", 3)
    x, y = np.log(outputs).astype(np.float32), np.array([0, 1, 2, 1])
    timed = []
    real_benchmark = verify.benchmark_artifact
    monkeypatch.setattr(
        verify,
        "benchmark_artifact",
        lambda *args: timed.append(args[2:]) or real_benchmark(*args),
    )
    figures = measure_artifact(path, x, y, reference, uncompressed=uncompressed)
    assert timed == [(200, 20)]  # the documented latency runs and warm-up calls
    assert figures["test_accuracy"] == 0.75 and figures["top1_agreement"] == 0.5
    assert figures["decisive_agreement"] == pytest.approx(2 / 3) and figures["ties"] == 1
    assert figures["max_abs_diff"] == pytest.approx(0.5, abs=1e-6)
    assert figures["uncompressed_agreement"] == 0.75
    assert 0 < figures["latency_ms_p50"] <= figures["latency_ms_p99"]
    for tie_margin, decisive_agreement, ties in [(0.25, 2 / 3, 1), (0.6, 0.0, 3), (0.9, 1.0, 4)]:
        wider = measure_artifact(path, x, y, reference, 3, 1, tie_margin=tie_margin)
        assert (wider["decisive_agreement"], wider["ties"]) == (
            pytest.approx(decisive_agreement),
            ties,
        )
    assert timed[1:] == [(3, 1)] * 3 and "uncompressed_agreement" not in wider


def test_two_classes_have_a_margin_and_one_output_is_always_decided():
    from tfpipeline.export.verify import _top_two_margin

    np.testing.assert_allclose(_top_two_margin(np.array([[0.4, 0.6], [0.9, 0.1]])), [0.2, 0.8])
    np.testing.assert_array_equal(_top_two_margin(np.full((3, 1), 0.3)), np.ones(3))


def test_regression_figures_are_measured_against_the_reference(tmp_path):
    path = _onnx_file(tmp_path / "identity.onnx", "Identity", 1)
    x = np.array([[1.0], [2.0], [10.0]], np.float32)
    reference = np.array([[1.0], [2.5], [11.0]])
    figures = measure_artifact(path, x, np.array([1.5, 2.0, 9.0]), reference, 3, 1, "regression")
    assert figures["test_mae"] == pytest.approx(0.5) and figures["keras_test_mae"] == 1.0
    assert figures["max_abs_diff"] == 1.0 and figures["max_rel_diff"] == pytest.approx(1 / 11)
    # outputs below 1 are compared with 1: a tiny output's relative error is not inflated
    small = measure_artifact(path, x[:1] / 5, np.zeros(1), np.array([[0.5]]), 3, 1, "regression")
    assert small["max_rel_diff"] == pytest.approx(0.3)


def _number_keys(cls, prefix=""):
    for name, kind in field_types(cls).items():
        if dataclasses.is_dataclass(kind):
            yield from _number_keys(kind, f"{prefix}{name}.")
            continue
        members = typing.get_args(kind) if isinstance(kind, types.UnionType) else (kind,)
        if {int, float} & set(members):
            yield f"{prefix}{name}"


NUMBER_KEYS = sorted(_number_keys(PipelineConfig))


def test_every_number_key_is_found():
    assert {"train.learning_rate", "train.epochs", "verify.int8_min_agreement"} <= set(NUMBER_KEYS)
    assert len(NUMBER_KEYS) > 40


@pytest.mark.parametrize("key", NUMBER_KEYS)
def test_a_boolean_is_not_a_number_for_any_key(key):
    with pytest.raises(ConfigError, match=f"Config key `{key}` must be"):
        load_config(overrides={key: True})
