"""Shared fixtures: one tiny real pipeline run reused by every end-to-end test."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# The package under test is this checkout's, here and in every child process (the command
# line, notebook kernels, workers), wherever pytest was started and whatever other copy of
# tfpipeline is installed: a child that runs in a temporary folder would otherwise import
# the installed one.
ROOT = str(Path(__file__).resolve().parents[1])
sys.path.insert(0, ROOT)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))

import tfpipeline  # noqa: E402  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

# Small settings: few epochs, few latency calls. Everything else is the real default.
TINY = {
    "train.epochs": 4,
    "compress.prune.epochs": 2,
    "verify.latency_runs": 20,
    "verify.latency_warmup": 2,
}


@pytest.fixture(scope="session")
def tiny_config():
    return tfpipeline.load_config(overrides=TINY)


@pytest.fixture(scope="session")
def digits(tiny_config):
    """The default data, prepared: `digits`, cleaned and split."""
    return tfpipeline.prepare_data(tiny_config.data)


@pytest.fixture(scope="session")
def tiny_run(tiny_config, tmp_path_factory):
    """A real default-pipeline run with tiny settings: (run folder, returned manifest)."""
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    manifest = tfpipeline.Pipeline(tiny_config, log=lambda line: None, verbose=0).run(run_dir)
    return run_dir, manifest


@pytest.fixture(scope="session")
def logistic_accuracy(digits):
    """Test accuracy of a logistic regression on the `digits` fixture's split: what a plain
    linear model makes of this data (0.97), the bar a trained network is held to."""
    from sklearn.linear_model import LogisticRegression

    x_train, y_train = digits.splits.train.arrays()
    x_test, y_test = digits.splits.test.arrays()
    return LogisticRegression(max_iter=5000).fit(x_train, y_train).score(x_test, y_test)
