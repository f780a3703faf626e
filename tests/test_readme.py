"""The Python examples of README.md and of the docs pages run as written, and each computes
what its page says.

Every ```python block of README.md and docs/**/*.md is executed (slow: most train a model)
after a check of its own, found by a line only that example has (`CHECKS`), so an example
that a page shows cannot stop working unnoticed.
"""

import re
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

ROOT = Path(__file__).resolve().parents[1]


def _pages():
    """README.md, then every Markdown page of the docs, in a stable order."""
    docs = sorted(path for path in (ROOT / "docs").rglob("*.md") if "notebooks" not in path.parts)
    return [ROOT / "README.md", *docs]


def _python_blocks():
    """Every ```python block, keyed by where it is: `page:n` (n counts from 0 in each page)."""
    blocks = {}
    for page in _pages():
        text = page.read_text("utf-8")
        for n, block in enumerate(re.findall(r"```python\n(.*?)```", text, flags=re.S)):
            blocks[f"{page.relative_to(ROOT).as_posix()}:{n}"] = block
    return blocks


def _int8_input(path):
    details = Interpreter(model_path=str(path)).get_input_details()[0]
    return details["shape"].tolist(), details["dtype"].__name__


def _test_accuracy(path, data):
    import tfpipeline as tp

    x, y = data.splits.test.arrays()
    return float(np.mean(tp.load_predictor(path).predict(x).argmax(1) == y))


def _check_readme_tour(ns):
    manifest = ns["manifest"]
    assert manifest["status"] == "passed", manifest["failures"]
    assert "model_int8.tflite" in [a["path"] for a in manifest["artifacts"]]
    assert ns["predictor"].predict_classes(ns["x"])[0] in manifest["data"]["class_names"]


def _check_seed_example_run(ns):
    manifest = ns["manifest"]
    assert manifest["status"] == "passed" and manifest["model_source"] == "tf_keras model given"
    assert manifest["training"]["epochs_run"] <= 5
    assert manifest["keras_test_accuracy"] >= 0.9  # raw 0-16 pixels, five epochs
    assert _int8_input("saved_models/seed-example/model_int8.tflite") == ([1, 64], "int8")


def _check_keras3_pruning(ns):
    import tfpipeline as tp

    assert np.mean(ns["back"].layers[1].kernel.numpy() == 0) == pytest.approx(0.5, abs=0.01)
    assert type(ns["tf_keras_model"]).__module__.startswith("tf_keras")
    assert _int8_input("keras3_pruned_int8.tflite") == ([1, 64], "int8")
    x, y = ns["data"].splits.test.arrays()
    pruned = float(np.mean(tp.predict_probabilities(ns["pruned"], x).argmax(1) == y))
    assert _test_accuracy("keras3_pruned_int8.tflite", ns["data"]) >= pruned - 0.03


def _check_sweep(ns):
    result = ns["result"]
    # chosen on the validation split, within the example's 2 points of the float32 file
    assert result.chosen["val_accuracy"] >= result.baseline["val_accuracy"] - 0.02
    assert result.chosen["gzip_compression_ratio"] > 2  # pruned 75% and int8
    assert (Path("saved_models/my-sweep") / "sweep.md").is_file()


def _check_android_demo(ns):
    predictor, x = ns["predictor"], ns["x"]
    probabilities = predictor.predict(x)
    assert probabilities.shape == (5, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=0.02)  # dequantized softmax
    classes = predictor.predict_classes(x)
    assert classes == [str(i) for i in probabilities.argmax(1)]
    assert predictor.predict_classes([ns["row"]]) == classes[:1]  # a row by name: the same
    assert Path("saved_models/android-demo/android/model_card.json").is_file()


def _check_run(ns):
    manifest = ns["manifest"]
    assert manifest["status"] == "passed"
    int8 = manifest["artifacts"][2]
    assert int8["path"] == "model_int8.tflite"  # what the example prints
    assert int8["test_accuracy"] >= 0.95 and int8["top1_agreement"] >= 0.97, int8
    assert ns["record"].to_dict() == manifest  # the typed record reads the manifest back
    assert (
        ns["record"].artifact("model_int8.tflite").figure("test_accuracy") == int8["test_accuracy"]
    )


def _check_stages(ns):
    import tfpipeline as tp

    assert ns["failures"] == [], ns["failures"]
    assert ns["figures"]["test_accuracy"] >= 0.95, ns["figures"]
    sparsity = tp.kernel_sparsity(ns["pruned"].model)
    assert all(value == pytest.approx(0.75, abs=0.01) for value in sparsity.values()), sparsity
    assert ns["probabilities"].shape == (1, 10)
    assert ns["probabilities"].sum() == pytest.approx(1, abs=0.02)
    assert _int8_input("model_int8.tflite") == ([1, 64], "int8")
    assert Path("model.onnx").is_file() and Path("saved_model/saved_model.pb").is_file()


def _check_paired_verbs(ns):
    import tfpipeline as tp

    assert set(tp.kernel_sparsity(ns["model"]).values()) == {0.0}  # pruned a copy
    # Three epochs are 135 steps of a schedule that reaches 0.75 at step 500: measured 0.29,
    # the same in every kernel.
    pruned = tp.kernel_sparsity(ns["pruned"])
    assert all(0.2 <= value <= 0.75 for value in pruned.values()), pruned
    assert max(pruned.values()) - min(pruned.values()) <= 0.01, pruned
    clustered = tp.kernel_sparsity(ns["clustered"])  # preserve_sparsity: the zeros stay
    assert all(clustered[name] >= pruned[name] - 0.01 for name in pruned), clustered
    assert all(2 <= count <= 16 for count in tp.unique_weights(ns["clustered"]).values())
    assert _int8_input("model_pcqat_int8.tflite") == ([1, 64], "int8")
    assert _test_accuracy("model_pcqat_int8.tflite", ns["data"]) >= 0.9


def _check_seed_model(ns):
    model = ns["model"]
    assert type(model).__module__.startswith("tf_keras")  # what TFMOT and tf2onnx take
    assert model.output_shape == (None, 10) and model.count_params() == 17_226


def _check_text_guide(ns):
    manifest = ns["manifest"]
    assert manifest["status"] == "passed", manifest["failures"]
    assert manifest["evaluation"]["baseline"]["kind"] == "TF-IDF + logistic regression"
    assert ns["predictor"].predict_classes(
        ["I love it, works great", "It broke, what a waste"]
    ) == [
        "positive",
        "negative",
    ]
    assert Path("saved_models/reviews/android/vocab.txt").is_file()


def _check_audio_guide(ns):
    manifest = ns["manifest"]
    assert manifest["status"] == "passed", manifest["failures"]
    assert manifest["data"]["input"]["kind"] == "audio"
    assert manifest["int8_input"]["float_layers"] == ["log_mel", "log_mel_normalization"]
    assert ns["predictor"].predict_classes(["tones/mid/0.wav"]) == ["mid"]
    sweep = 0.5 * np.sin(2 * np.pi * 2200 * ns["t"])
    assert ns["predictor"].predict_classes((sweep, 16000)) == ["high"]


# Each example's check, found by a line only that example has (the first that matches).
CHECKS = [
    ('tp.Pipeline(config).run("saved_models/tour")', _check_readme_tour),
    ('.run("saved_models/seed-example", model=model)', _check_seed_example_run),
    ("back = tp.to_keras3(pruned)", _check_keras3_pruning),
    ("tp.compress_sweep(", _check_sweep),
    ('tp.Pipeline(config).run("saved_models/android-demo")', _check_android_demo),
    ('tfpipeline.Pipeline(config).run("saved_models/my-run")', _check_run),
    ('predictor = tp.load_predictor("model_int8.tflite")', _check_stages),
    ("tp.apply_qat(clustered", _check_paired_verbs),
    ('model.add(layers.Dense(10, activation="softmax"))', _check_seed_model),
    ('tp.Pipeline(config).run("saved_models/reviews")', _check_text_guide),
    ('tp.Pipeline(config).run("saved_models/tones")', _check_audio_guide),
]


def _check_for(block):
    return next((check for marker, check in CHECKS if marker in block), None)


def test_every_python_example_has_a_check_and_every_check_an_example():
    blocks = _python_blocks()
    assert len(blocks) >= 9 and any(where.startswith("README.md:") for where in blocks)
    unchecked = [where for where, block in blocks.items() if _check_for(block) is None]
    assert not unchecked, (
        f"python block(s) {unchecked} have no check of what they compute: add one to "
        "CHECKS in tests/test_readme.py"
    )
    orphans = [m for m, _ in CHECKS if not any(m in block for block in blocks.values())]
    assert not orphans, f"CHECKS markers that no page's python block holds any more: {orphans}"


@pytest.mark.slow
@pytest.mark.parametrize("where", list(_python_blocks()))
def test_python_example_runs(where, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    block = _python_blocks()[where]
    namespace = {}
    exec(compile(block, f"{where} (python block)", "exec"), namespace)
    _check_for(block)(namespace)
