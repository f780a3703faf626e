import dataclasses

import pytest
import yaml

from tfpipeline import ConfigError, PipelineConfig, default_config_path, dump_config, load_config
from tfpipeline.config import from_dict


def test_embedded_default_matches_dataclass_defaults():
    raw = yaml.safe_load(default_config_path().read_text())
    assert from_dict(raw) == PipelineConfig()
    assert load_config() == PipelineConfig()


def test_yaml_round_trip_is_exact(tmp_path):
    config = load_config(
        overrides=["train.epochs=7", "export.tflite=[int8]", "compress.prune.sparsity=0.5"]
    )
    path = tmp_path / "config.yaml"
    path.write_text(dump_config(config))
    assert load_config(path) == config
    assert from_dict(config.to_dict()) == config


def test_file_keys_override_defaults_and_missing_keys_keep_them(tmp_path):
    path = tmp_path / "partial.yaml"
    path.write_text("train:\n  epochs: 3\n  schedule:\n    kind: constant\n")
    config = load_config(path)
    assert config.train.epochs == 3
    assert config.train.schedule.kind == "constant"
    assert config.train.schedule.decay_rate == PipelineConfig().train.schedule.decay_rate
    assert config.model == PipelineConfig().model


def test_overrides_are_read_as_yaml():
    config = load_config(
        overrides=[
            "train.epochs=3",
            "export.tflite=[float32, int8]",
            "verify.float_max_abs_diff=1e-3",
            "compress.prune.enabled=false",
            "model.hidden_units=[32]",
        ]
    )
    assert config.train.epochs == 3
    assert config.export.tflite == ["float32", "int8"]
    assert config.verify.float_max_abs_diff == pytest.approx(1e-3)
    assert config.compress.prune.enabled is False
    assert config.model.hidden_units == [32]


def test_dict_overrides_and_optional_value():
    config = load_config(overrides={"compress.prune.learning_rate": 0.01})
    assert config.compress.prune.learning_rate == 0.01
    assert load_config(overrides={"compress.prune.learning_rate": None}) == PipelineConfig()


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PipelineConfig().train.epochs = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["train.epoch=3"], "Unknown config key `train.epoch`. Did you mean `train.epochs`?"),
        (["trian.epochs=3"], "Did you mean `train.epochs`?"),
        (
            ["train.learning.rate=1"],
            "Unknown config key `train.learning.rate`. Did you mean `train.learning_rate`?",
        ),
        (["train.early_stopping.patiense=2"], "`train.early_stopping.patience`"),
        (["train.epochs=ten"], "`train.epochs` must be an integer. Received: train.epochs='ten'"),
        (["train.epochs=true"], "`train.epochs` must be an integer"),
        (["train.epochs=2.5"], "`train.epochs` must be an integer"),
        (["train.epochs=0"], "`train.epochs` must be >= 1 and <= 100000. Received: train.epochs=0"),
        (["train.learning_rate=0"], "`train.learning_rate` must be > 0.0"),
        (["train.learning_rate=.nan"], "`train.learning_rate` must be a finite number"),
        (["train.learning_rate=.inf"], "`train.learning_rate` must be a finite number"),
        (
            ["train.optimizer=adom"],
            "must be one of sgd, momentum, nesterov, adam, adamw, rmsprop. Did you mean",
        ),
        (["compress.prune.sparsity=1.0"], "`compress.prune.sparsity` must be > 0.0 and < 1.0"),
        (["compress.prune.enabled=yes please"], "`compress.prune.enabled` must be true or false"),
        (
            ["compress.qat.enabled=true", "compress.order=[qat, prune, cluster]"],
            "Compression cannot run qat -> prune: a later technique would undo an earlier one. "
            "Accepted orders: prune; cluster; qat; prune -> cluster; prune -> qat; cluster -> qat;"
            " prune -> cluster -> qat.",
        ),
        (
            ["compress.cluster.enabled=true", "compress.order=[prune]"],
            "`compress.order` must name each enabled technique once. Received: order=['prune']",
        ),
        (["compress.order=[prune, cut]"], "`compress.order[1]` must be one of prune, cluster, qat"),
        (["compress.cluster.clusters=1"], "`compress.cluster.clusters` must be >= 2"),
        (["compress.cluster.init=kmeans"], "`compress.cluster.init` must be one of kmeans_plus"),
        (
            ["compress.prune.initial_sparsity=0.8"],
            "`compress.prune.initial_sparsity` must be below",
        ),
        (["compress.prune.sparsity_m_by_n=[4, 2]"], "must be [m, n] with m < n, such as [2, 4]"),
        (
            ["compress.prune.end_epoch=30"],
            "`compress.prune.begin_epoch` < `end_epoch` <= `epochs` must hold",
        ),
        (["export.int8_io=int4"], "`export.int8_io` must be one of int8, uint8"),
        (["export.tflite=float32"], "`export.tflite` must be a list of strings"),
        (
            ["export.tflite=[float32, int4]"],
            "`export.tflite[1]` must be one of float32, float16, dynamic, int8",
        ),
        (["model.hidden_units=[128, 0]"], "`model.hidden_units[1]` must be >= 1"),
        (["data.split.train=0.5"], "must sum to 1"),
        (["data.split={train: 0.9, val: 0.0, test: 0.1}"], "there is no validation split"),
        (["train=3"], "Config key `train` must be a mapping"),
        (["train.epochs.value=3"], "is a value, not a section"),
        (["train.epochs"], "must look like KEY=VALUE"),
        (["train.epochs=[1"], "is not valid YAML"),
        (["data.name=mnist"], "`data.name` must be one of digits"),
    ],
)
def test_bad_values_are_refused_with_key_value_and_rule(overrides, expected):
    with pytest.raises(ConfigError) as info:
        load_config(overrides=overrides)
    assert expected in str(info.value)


def test_unknown_key_in_file_lists_accepted_keys(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  hiden_units: [10]\n")
    with pytest.raises(ConfigError, match="Did you mean `model.hidden_units`") as info:
        load_config(path)
    assert "Accepted keys under `model`: kind, hidden_units, activation, initializer," in str(
        info.value
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("train: [epochs\n", "is not valid YAML"),
        ("- 1\n- 2\n", "must hold a mapping of sections"),
        ("nonsense: 1\n", "Unknown config key `nonsense`"),
    ],
)
def test_bad_files_are_refused(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


def test_empty_file_means_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_config(path) == PipelineConfig()


def test_missing_file_and_directory_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="Config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="must be a file"):
        load_config(tmp_path)


def test_the_readme_holds_the_current_config_reference():
    from pathlib import Path

    from tfpipeline.config_reference import BEGIN, END, config_reference

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
    written = readme.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert written == config_reference(), "run: python -m tfpipeline.config_reference"

    def leaves(node):
        if isinstance(node, dict):
            return sum(leaves(value) for value in node.values())
        return 1

    assert config_reference().count("\n| `") == leaves(PipelineConfig().to_dict())


def test_a_yaml_key_holding_a_dot_is_named_with_the_right_spelling():
    with pytest.raises(ConfigError, match=r"`train.learning.rate`. Did you mean `train.learn"):
        from_dict({"train": {"learning.rate": 0.1}})
    with pytest.raises(ConfigError, match=r"`train.epochs`. A dotted path is one key per level"):
        from_dict({"train.epochs": 1})
