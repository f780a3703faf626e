"""Saliency and integrated gradients on real tf_keras models: attributions land on the
inputs the output depends on, integrated gradients add up to the change of the output,
bad input is refused by name, and a run's evaluation and reports carry the attributions."""

import json
from pathlib import Path

import numpy as np
import pytest
import tf_keras as keras

from tfpipeline import (
    build_model,
    feature_attributions,
    integrated_gradients,
    load_config,
    prepare_data,
    saliency,
)
from tfpipeline.evaluation import score
from tfpipeline.record import RunRecord, TrainingRecord, read_record, write_record
from tfpipeline.report import write_report
from tfpipeline.report_html import write_html_report
from tfpipeline.run_folder import RunFolder
from tfpipeline.stages.log import StageLog
from tfpipeline.stages.train import ATTRIBUTION_TOP, Trained, attribution_summary, evaluate_stage
from tfpipeline.training import predict_probabilities

# one worker builds the module's fixtures (see pyproject's --dist loadgroup)
pytestmark = pytest.mark.xdist_group("interpret")

RUN_MANIFEST = Path(__file__).parent / "data" / "run_manifest_0.1.0.json"
FEATURES = 6


def _rows(count=40, seed=0, features=FEATURES):
    return np.random.default_rng(seed).normal(2.0, 3.0, size=(count, features)).astype("float32")


def _classifier(x, seed=0, only=None):
    """Normalization -> Dense 16 tanh -> Dense 3 softmax, random weights; with `only`, the
    first Dense layer reads feature `only` alone."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((x.shape[1],)),
            keras.layers.Normalization(mean=x.mean(0), variance=x.var(0), name="normalization"),
            keras.layers.Dense(16, activation="tanh", name="hidden"),
            keras.layers.Dense(3, activation="softmax", name="probabilities"),
        ]
    )
    if only is not None:
        kernel, bias = model.get_layer("hidden").get_weights()
        mask = np.zeros_like(kernel)
        mask[only] = 1.0
        model.get_layer("hidden").set_weights([kernel * mask * 3.0, bias])
    return model


def _linear(weights, bias=0.5):
    model = keras.Sequential([keras.Input((len(weights),)), keras.layers.Dense(1)])
    model.layers[-1].set_weights([np.asarray(weights, "float32")[:, None], np.array([bias])])
    return model


def _image_model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Rescaling(1 / 16.0),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def _chosen_output(model, x, classes):
    outputs = model(x, training=False).numpy()
    return outputs[np.arange(len(x)), classes]


@pytest.mark.parametrize("k", [0, 4])
def test_a_model_that_reads_only_feature_k_gets_all_attribution_on_k(k):
    x = _rows()
    model = _classifier(x, only=k)
    names = [f"f{i}" for i in range(FEATURES)]
    ranked = feature_attributions(model, x, names)
    assert ranked[0][0] == f"f{k}" and ranked[0][1] > 1e-3, ranked
    assert all(value == 0.0 for _, value in ranked[1:]), ranked  # no gradient reaches them
    sensitivity = saliency(model, x)
    assert np.all(np.delete(sensitivity, k, axis=1) == 0) and np.all(sensitivity[:, k] > 0)


def test_a_trained_model_is_found_to_rely_on_the_feature_that_decides_the_label():
    x = _rows(400, seed=1)
    y = (x[:, 2] > 2.0).astype("int64") + (x[:, 2] > 5.0)  # three classes from feature 2 alone
    model = _classifier(x, seed=1)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=40, batch_size=32, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] >= 0.9
    ranked = feature_attributions(model, x[:100], [f"f{i}" for i in range(FEATURES)])
    assert ranked[0][0] == "f2" and ranked[0][1] > 3 * ranked[1][1], ranked


@pytest.mark.parametrize(
    ("make", "x", "baseline"),
    [
        (lambda: _classifier(_rows()), _rows(20, seed=3), None),  # the training mean
        (lambda: _classifier(_rows()), _rows(20, seed=3), 0.0),
        (lambda: _image_model(), np.random.default_rng(4).uniform(0, 16, (6, 8, 8, 1)), None),
        (lambda: _linear([1.0, -2.0, 0.5]), _rows(10, features=3), np.ones(3)),
    ],
    ids=["mlp-mean", "mlp-zeros", "cnn-black", "linear-ones"],
)
def test_integrated_gradients_add_up_to_the_change_of_the_output(make, x, baseline):
    model = make()
    x = x.astype("float32")
    attributions = integrated_gradients(model, x, baseline, steps=64)
    assert attributions.shape == x.shape
    width = model.outputs[0].shape[-1]
    classes = model(x).numpy().argmax(1) if width > 1 else np.zeros(len(x), int)
    if baseline is None:  # the mean of the model's normalization, else zeros
        norm = model.layers[0]
        baseline = norm.mean.numpy() if isinstance(norm, keras.layers.Normalization) else 0.0
    start = np.broadcast_to(np.asarray(baseline, "float32"), x.shape)
    change = _chosen_output(model, x, classes) - _chosen_output(model, start, classes)
    totals = attributions.reshape(len(x), -1).sum(axis=1)
    np.testing.assert_allclose(totals, change, atol=2e-3 + 0.01 * np.abs(change).max())
    assert np.abs(change).max() > 0.01  # the check is not vacuous


def test_on_a_linear_model_both_are_exact():
    weights = np.array([1.0, -2.0, 0.5], "float32")
    model = _linear(weights)
    x = _rows(5, features=3)
    np.testing.assert_allclose(saliency(model, x), np.tile(np.abs(weights), (5, 1)), rtol=1e-6)
    np.testing.assert_allclose(
        integrated_gradients(model, x, baseline=0.0, steps=1), x * weights, rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (lambda: _classifier(_rows()), (FEATURES,)),
        (lambda: _classifier(_rows()), (7, FEATURES)),
        (_image_model, (8, 8, 1)),
        (_image_model, (3, 8, 8, 1)),
    ],
    ids=["one-row", "rows", "one-image", "images"],
)
def test_the_maps_have_the_shape_of_the_input(make, shape):
    model = make()
    x = np.random.default_rng(5).uniform(0, 16, shape).astype("float32")
    for attributions in (saliency(model, x), integrated_gradients(model, x, steps=4)):
        assert attributions.shape == shape and attributions.dtype == np.float32
    assert np.all(saliency(model, x) >= 0)


def test_class_index_picks_the_output_and_defaults_to_the_predicted_class():
    x = _rows(12, seed=6)
    model = _classifier(x, seed=6)
    predicted = model(x).numpy().argmax(1)
    np.testing.assert_array_equal(saliency(model, x), saliency(model, x, class_index=predicted))
    other = (predicted + 1) % 3
    assert not np.allclose(saliency(model, x), saliency(model, x, class_index=other))
    one = integrated_gradients(model, x[0], class_index=2)
    np.testing.assert_allclose(one, integrated_gradients(model, x[:1], class_index=[2])[0])
    linear = _linear([1.0, 2.0])  # one output: the only index is 0
    np.testing.assert_array_equal(saliency(linear, x[:, :2]), saliency(linear, x[:, :2], 0))
    with pytest.raises(ValueError, match="must be None, 0 \\(its single output\\)"):
        saliency(linear, x[:, :2], class_index=1)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m, x: saliency(m, x[:, :5]), r"`x` must be one sample of shape \(6,\)"),
        (lambda m, x: saliency(m, x[None]), r"Received: x.shape=\(1, 8, 6\)"),
        (lambda m, x: saliency(m, x[:0]), "non-empty batch"),
        (lambda m, x: saliency(m, np.where(x > 0, np.nan, x)), "finite values"),
        (lambda m, x: saliency(m, [["a"] * FEATURES]), "`x` must be numbers"),
        (lambda m, x: saliency(m, x, class_index=3), "from 0 to 2"),
        (lambda m, x: saliency(m, x, class_index=[0, 1]), r"one such index per sample \(8\)"),
        (lambda m, x: saliency(m, x, class_index=1.5), "`class_index` must be"),
        (lambda m, x: integrated_gradients(m, x, steps=0), "`steps` must be an integer >= 1"),
        (lambda m, x: integrated_gradients(m, x, baseline=np.zeros(5)), r"baseline.shape=\(5,\)"),
        (lambda m, x: feature_attributions(m, x[0], list("abcdef")), "shape \\(samples, "),
        (lambda m, x: feature_attributions(m, x, list("abc")), "name each of the 6 columns"),
    ],
)
def test_bad_input_is_refused_naming_the_argument(call, message):
    x = _rows(8)
    with pytest.raises(ValueError, match=message):
        call(_classifier(x), x)


def test_a_model_with_two_outputs_is_refused():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, [keras.layers.Dense(2)(inputs), keras.layers.Dense(1)(inputs)])
    with pytest.raises(ValueError, match="one input and one output. Received: 1 inputs and 2"):
        saliency(model, np.zeros((1, 3)))


@pytest.fixture(scope="module")
def wine():
    """wine (13 named features), prepared, and the seed model fitted on it for a few epochs."""
    config = load_config(overrides={"data.name": "wine", "train.epochs": 1})
    data = prepare_data(config.data)
    keras.utils.set_random_seed(0)
    model = build_model(config.model, data)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(*data.splits.train.arrays(), epochs=15, verbose=0)
    return data, model


def test_the_evaluation_carries_the_attributions_of_a_feature_run(wine, tmp_path):
    data, model = wine
    x_test, y_test = data.splits.test.arrays()
    outputs = predict_probabilities(model, x_test)
    trained = Trained(TrainingRecord(1, False, 1), outputs, score(outputs, y_test, data.task))
    lines = []
    evaluation = evaluate_stage(trained, data, tmp_path / "cm.png", StageLog(lines.append), model)
    attributions = evaluation["attributions"]
    assert attributions["samples"] == len(x_test) <= 200 and attributions["steps"] == 32
    assert attributions["baseline"] == "training mean"  # standardize: the model's mean
    assert attributions["feature_count"] == 13 == len(attributions["features"])
    names = [item["feature"] for item in attributions["features"]]
    assert set(names) == set(data.feature_names)
    values = [item["mean_abs"] for item in attributions["features"]]
    assert values == sorted(values, reverse=True) and values[0] > 0
    logged = f"attributions on {len(x_test)} test rows: "
    assert any(line.strip().startswith(logged) for line in lines), lines
    assert json.loads(json.dumps(evaluation)) == evaluation  # plain JSON in the manifest


def test_a_large_test_split_is_sampled_and_a_regression_attributes_its_prediction(
    wine, monkeypatch
):
    data, model = wine
    monkeypatch.setattr("tfpipeline.stages.train.ATTRIBUTION_ROWS", 7)
    first, again = attribution_summary(model, data), attribution_summary(model, data)
    assert first["samples"] == 7 and first == again  # a seeded choice of rows
    overrides = {"data.name": "diabetes", "data.task": "regression"}
    config = load_config(overrides=overrides)
    diabetes = prepare_data(config.data)
    summary = attribution_summary(build_model(config.model, diabetes), diabetes)
    assert summary["output"] == "prediction" and summary["baseline"] == "training mean"
    assert {item["feature"] for item in summary["features"]} == set(diabetes.feature_names)


def test_images_and_unnamed_features_get_no_attributions(wine):
    _, model = wine
    images = prepare_data(load_config(overrides={"data.as_images": True}).data)
    assert attribution_summary(model, images) is None  # not even called on the model
    arrays = prepare_data(
        load_config(overrides={"data.source": "arrays"}).data, x=_rows(60), y=np.arange(60) % 2
    )
    assert arrays.feature_names == () and attribution_summary(model, arrays) is None
    data, _ = wine
    ids = keras.Input((13,), dtype="int32")  # token ids, say: no gradient to follow
    counting = keras.Model(ids, keras.layers.Dense(3)(keras.layers.Embedding(50, 2)(ids)[:, 0]))
    assert attribution_summary(counting, data) is None


def test_the_reports_show_the_attributions_and_the_manifest_keeps_them(tmp_path):
    old = read_record(RUN_MANIFEST)  # written before attributions existed
    assert "attributions" not in old.evaluation
    assert "Feature attributions" not in write_report(RunFolder(tmp_path), old).read_text()
    features = [{"feature": f"pixel_{i}", "mean_abs": 0.05 - i / 1000} for i in range(20)]
    attributions = {
        "method": "integrated gradients", "samples": 180, "steps": 32,
        "baseline": "training mean", "output": "probability of the predicted class",
        "feature_count": 64, "features": features,
    }  # fmt: skip
    manifest = old.to_dict()
    manifest["evaluation"] = {**manifest["evaluation"], "attributions": attributions}
    record = RunRecord.from_dict(manifest)
    write_record(tmp_path / "manifest.json", record)
    assert read_record(tmp_path / "manifest.json").evaluation["attributions"] == attributions
    markdown = write_report(RunFolder(tmp_path), record).read_text()
    assert "### Feature attributions" in markdown
    assert "Integrated gradients on 180 test rows (32 steps from the training split's" in markdown
    assert "| feature (top 10 of 64) | mean abs attribution |" in markdown
    assert "| pixel_0 | 0.0500 |" in markdown and "| pixel_9 |" in markdown
    assert "| pixel_10 |" not in markdown  # a short table
    page = write_html_report(RunFolder(tmp_path), record).read_text()
    section = page[page.index("<h3>Feature attributions</h3>") :]
    assert "not what causes the label" in section.split("</p>")[0]
    assert "<img alt='feature attributions' src='data:image/png;base64," in section


@pytest.mark.slow
def test_a_pipeline_run_reports_its_attributions(tiny_run):
    run_dir, manifest = tiny_run
    attributions = manifest["evaluation"]["attributions"]
    assert attributions["samples"] == min(200, manifest["data"]["split_sizes"]["test"])
    assert len(attributions["features"]) == ATTRIBUTION_TOP
    assert all(item["feature"].startswith("pixel_") for item in attributions["features"])
    assert "### Feature attributions" in (run_dir / "report.md").read_text()
    assert "<img alt='feature attributions'" in (run_dir / "report.html").read_text()


def test_writing_the_reports_leaves_the_callers_pyplot_alone(tmp_path):
    """A notebook draws inline after a run: the reports must not switch pyplot's backend
    (which hid every later figure) nor leave figures open in it."""
    import matplotlib
    import matplotlib.pyplot as plt

    from tfpipeline.evaluation import plot_confusion_matrix

    before = matplotlib.get_backend()
    plt.switch_backend("svg")  # stands for a notebook's inline backend
    try:
        record = read_record(RUN_MANIFEST)
        plot_confusion_matrix(record.evaluation, tmp_path / "confusion_matrix.png")
        write_html_report(RunFolder(tmp_path), record)
        assert matplotlib.get_backend() == "svg" and plt.get_fignums() == []
    finally:
        plt.switch_backend(before)
