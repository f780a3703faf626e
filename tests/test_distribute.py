"""tf.distribute and mixed precision on the CPU: two logical devices, bfloat16, refusals."""

import json
import subprocess
import sys

import pytest

from tfpipeline import ConfigError, load_config
from tfpipeline.distribute import make_strategy

pytestmark = pytest.mark.slow

# Logical devices must be set before TensorFlow starts, so the runs happen in a child process.
SCRIPT = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import tfpipeline as tp
from ai_edge_litert.interpreter import Interpreter
base = {"train.epochs": 6, "compress.prune.enabled": False, "export.saved_model": False,
        "export.onnx": False, "verify.latency_runs": 5, "data.clean.constant_features": "ignore"}
results = {}
for name, extra in [
    ("none", {}),
    ("mirrored", {"train.distribute": "mirrored", "train.devices": ["/cpu:0", "/cpu:1"]}),
    ("bfloat16", {"train.mixed_precision": "mixed_bfloat16"}),
]:
    lines = []
    manifest = tp.Pipeline(tp.load_config(overrides={**base, **extra}), log=lines.append,
                           verbose=0).run(sys.argv[1] + "/" + name)
    details = Interpreter(model_path=sys.argv[1] + "/" + name + "/model_float32.tflite")
    results[name] = {"status": manifest["status"], "accuracy": manifest["keras_test_accuracy"],
                     "input": details.get_input_details()[0]["dtype"].__name__,
                     "log": "\\n".join(lines)}
print(json.dumps(results))
"""


def test_mirrored_over_two_cpus_and_bfloat16_train_and_export_float32(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = json.loads(result.stdout.strip().splitlines()[-1])
    assert all(run["status"] == "passed" for run in runs.values())
    assert "mirrored: 2 replicas, global batch 32 (16 per replica)" in runs["mirrored"]["log"]
    assert abs(runs["mirrored"]["accuracy"] - runs["none"]["accuracy"]) <= 0.02
    assert "mixed_bfloat16 policy (output layer float32)" in runs["bfloat16"]["log"]
    assert abs(runs["bfloat16"]["accuracy"] - runs["none"]["accuracy"]) <= 0.02
    assert runs["bfloat16"]["input"] == "float32"  # exports are float32 whatever the policy


def test_impossible_setups_are_refused_before_any_work(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="needs the TF_CONFIG environment variable"):
        make_strategy(load_config(overrides={"train.distribute": "multi_worker"}).train)
    with pytest.raises(ConfigError, match="names devices this machine lacks: /gpu:7"):
        make_strategy(
            load_config(
                overrides={"train.distribute": "mirrored", "train.devices": ["/gpu:7"]}
            ).train
        )
    for asked in ("mixed_float16", True):  # `true` means mixed_float16
        with pytest.raises(ConfigError, match="mixed_float16` needs a GPU and this machine has"):
            make_strategy(load_config(overrides={"train.mixed_precision": asked}).train)
    bfloat16 = load_config(overrides={"train.mixed_precision": "bfloat16"}).train
    assert bfloat16.mixed_precision == "mixed_bfloat16"
    assert make_strategy(bfloat16) is None  # allowed on the CPU


def test_a_lost_worker_is_named_not_the_one_reporting_it():
    from tfpipeline.distribute import lost_workers, workers_tf_config

    error = RuntimeError(
        "{{function_node __wrapped__CollectiveReduceV2_device_/job:worker/replica:0/task:0/"
        "device:CPU:0}} Collective ops is aborted by: Error reported from /job:worker/task:1: "
        "The following tasks are unhealthy (stopped sending heartbeats):\n"
        "/job:worker/replica:0/task:1\nThe tasks have crashed."
    )
    assert lost_workers(error) == "worker 1"
    assert lost_workers(RuntimeError("Socket closed")) == "another worker"
    # TensorFlow's error does not always name the task: the cluster does.
    cluster = workers_tf_config(["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"], 1)
    assert lost_workers(RuntimeError("Socket closed"), cluster) == "one of worker 0, worker 2"
    pair = workers_tf_config(["127.0.0.1:1", "127.0.0.1:2"], 0)
    assert lost_workers(RuntimeError("Socket closed"), pair) == "worker 1"
    assert lost_workers(RuntimeError("Socket closed"), "{not json") == "another worker"
