"""Real TFMOT clustering and quantization-aware training on the seed model."""

import numpy as np
import pytest

from tfpipeline import (
    apply_clustering,
    apply_qat,
    build_model,
    export_tflite,
    load_config,
    load_predictor,
    predict_probabilities,
    strip_clustering,
    train,
    unique_weights,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(digits):
    config = load_config(overrides={"train.epochs": 4})
    model = build_model(config.model, digits, seed=2)
    train(model, digits, config.train, verbose=0)
    return model


def test_clustered_kernels_hold_at_most_n_values_after_stripping(trained, digits):
    before = [w.copy() for w in trained.get_weights()]
    wrapped, callbacks = apply_clustering(trained, clusters=8)
    config = load_config(overrides={"train.epochs": 1, "train.learning_rate": 1e-4})
    train(wrapped, digits, config.train, callbacks=callbacks, verbose=0)
    stripped = strip_clustering(wrapped)
    counts = unique_weights(stripped)
    assert set(counts) == {"dense_0", "dense_1", "probabilities"}
    assert all(2 <= count <= 8 for count in counts.values())
    accuracy = np.mean(
        predict_probabilities(stripped, digits.splits.x_test).argmax(1) == digits.splits.y_test
    )
    assert accuracy > 0.8
    for old, new in zip(before, trained.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)  # the trained model is left as it was


def test_qat_model_converts_to_int8_and_agrees_in_litert(trained, digits, tmp_path):
    qat, _ = apply_qat(trained)
    config = load_config(overrides={"train.epochs": 2, "train.learning_rate": 1e-4})
    train(qat, digits, config.train, verbose=0)
    path = export_tflite(qat, tmp_path / "qat.tflite", "int8", digits.splits.x_train[:200])
    x = digits.splits.x_test
    agreement = np.mean(
        load_predictor(path).predict(x).argmax(1) == predict_probabilities(qat, x).argmax(1)
    )
    assert agreement >= 0.97
    with pytest.raises(ValueError, match="already quantization-aware"):
        apply_qat(qat)


def test_bad_clustering_arguments(trained):
    with pytest.raises(ValueError, match="`clusters` must be >= 2"):
        apply_clustering(trained, clusters=1)
    with pytest.raises(ValueError, match="`init` must be one of"):
        apply_clustering(trained, clusters=4, init="kmeans")
