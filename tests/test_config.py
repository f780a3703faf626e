import dataclasses
import time

import pytest
import yaml

from tfpipeline import ConfigError, PipelineConfig, default_config_path, dump_config, load_config
from tfpipeline._schema import MAX_CONFIG_BYTES
from tfpipeline.config import DataConfig, from_dict


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


def alias_bomb() -> str:
    """A 'billion laughs' config: nine lists of nine aliases, nested nine deep (9**9 items).

    Its value is a list where an integer belongs, so without the refusal the error message
    would print all of it.
    """
    lines = ["train:", "  epochs:", "    - &l0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
    lines += [f"    - &l{i} [{','.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_is_refused_at_once_with_a_short_message(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    assert path.stat().st_size < 512
    started = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert time.perf_counter() - started < 10  # expanded, it takes a minute and gigabytes
    message = str(info.value)
    assert message.startswith(f"{path}, line 4: found the alias *l0; aliases (*name) are not")
    assert len(message) < 300


def test_an_alias_is_refused_naming_its_line_in_a_file_and_in_an_override(tmp_path):
    path = tmp_path / "alias.yaml"
    path.write_text("train:\n  epochs: &three 3\ncompress:\n  prune:\n    epochs: *three\n")
    with pytest.raises(ConfigError, match=r"alias\.yaml, line 5: found the alias \*three; "):
        load_config(path)
    with pytest.raises(ConfigError, match="aliases .* are not accepted in config files"):
        load_config(overrides=["export.tflite=[&f float32, *f]"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # PyYAML's int() raises ValueError past 4300 digits
            "train:\n  epochs: " + "1" * 5000 + "\n",
            "line 2: cannot read this value: Exceeds the limit (4300 digits) for integer string "
            "conversion: value has 5000 digits",
        ),
        ("train:\n  epochs: 2024-13-45\n", "line 2: cannot read this value: month must be in"),
        ("train: " + "[" * 5000 + "]" * 5000 + "\n", "line 1: nested deeper than 64 levels"),
    ],
    ids=["5000-digit int", "impossible date", "5000 levels deep"],
)
def test_values_yaml_cannot_build_are_config_errors_naming_file_and_line(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}, {expected}"), info.value
    assert "set_int_max_str_digits" not in str(info.value)  # advice for programmers, not users


def test_a_mapping_that_holds_itself_is_refused():
    section: dict = {}
    section["epochs"] = section
    with pytest.raises(ConfigError, match="holds itself or is nested thousands of levels deep"):
        load_config({"train": section})


def test_a_config_file_over_1_mib_is_refused_and_one_of_1_mib_is_read(tmp_path):
    text = "train: {epochs: 3}\n"
    path = tmp_path / "big.yaml"
    path.write_text(text + "#" * (MAX_CONFIG_BYTES - len(text)))
    assert path.stat().st_size == MAX_CONFIG_BYTES == 256 * 1024
    assert load_config(path).train.epochs == 3
    path.write_text(text + "#" * (MAX_CONFIG_BYTES - len(text) + 1))
    with pytest.raises(ConfigError, match=r"too large: at most 262,144 bytes \(256 KiB\)"):
        load_config(path)


@pytest.mark.parametrize(
    "overrides",
    [
        ["train.optimizer=" + "x" * 100_000],  # one of the choices
        ["train.epochs=" + "x" * 100_000],  # a wrong type
        ["data.image_size=[" + "1, " * 2_000 + "1]"],  # a cross-key check
        ["train." + "x" * 100_000 + "=1"],  # an unknown key
        ["train." + "x" * 100_000],  # not KEY=VALUE
    ],
    ids=["choice", "type", "cross-key", "unknown key", "no value"],
)
def test_long_values_are_cut_in_messages(overrides):
    with pytest.raises(ConfigError) as info:
        load_config(overrides=overrides)
    message = str(info.value)
    assert len(message) < 600 and " characters)" in message, message


def test_the_command_line_cuts_an_overlong_error_line(tmp_path, capsys):
    from tfpipeline.cli import main

    missing = tmp_path / ("x" * 5000)  # named in full, twice (by the OS error too)
    assert main(["run", "--config", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"tfpipeline: error: Cannot read config file {tmp_path}")
    assert len(err) < 2100 and err.endswith(" characters)\n"), err[-200:]


def test_the_docs_hold_the_current_config_reference():
    from pathlib import Path

    from tfpipeline.config_reference import BEGIN, END, config_reference

    page = Path(__file__).resolve().parents[1] / "docs" / "reference" / "config.md"
    written = page.read_text("utf-8").split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert written == config_reference(), (
        "run: python -m tfpipeline.config_reference, and paste its output between the markers "
        "of docs/reference/config.md"
    )

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


def test_nesting_is_refused_one_level_past_the_limit():
    from tfpipeline._schema import _MAX_DEPTH, parse_yaml

    def nested(levels):
        return "[" * (levels - 1) + "1" + "]" * (levels - 1)  # the scalar is a level too

    assert parse_yaml(nested(_MAX_DEPTH), "deep.yaml") is not None
    assert parse_yaml(nested(_MAX_DEPTH), "deep.yaml") == parse_yaml(nested(_MAX_DEPTH))
    with pytest.raises(ConfigError, match=f"deep.yaml.*nested deeper than {_MAX_DEPTH} levels"):
        parse_yaml(nested(_MAX_DEPTH + 1), "deep.yaml")
    with pytest.raises(ConfigError, match="not valid YAML: while parsing"):
        parse_yaml("a: [1", "bad.yaml")


def test_text_at_the_limit_is_shown_whole():
    from tfpipeline._schema import clip

    assert clip("abcd", 4) == "abcd"
    assert clip("abcde", 4) == "abcd… (5 characters)"


def test_an_unknown_key_names_where_it_is_and_the_one_closest_spelling():
    from tfpipeline._schema import unknown_key_message

    hints = {"epochs": int, "epoch_size": int, "batch_size": int}
    assert unknown_key_message("train.epoch", "epoch", hints) == (
        "Unknown config key `train.epoch`. Did you mean `train.epochs`? Accepted keys under "
        "`train`: epochs, epoch_size, batch_size."
    )
    top = unknown_key_message("zzz", "zzz", hints)
    assert top == (
        "Unknown config key `zzz`. Accepted keys at the top level: epochs, epoch_size, batch_size."
    )
    assert "under `a.b`" in unknown_key_message("a.b.c.d", "c.d", hints)
    assert "under `a.b`" in unknown_key_message("a.b.q", "other", hints)


def test_a_config_keeps_the_order_of_its_sections_and_keys_when_written():
    text = dump_config(load_config())
    sections = [line.rstrip(":") for line in text.splitlines() if not line.startswith(" ")]
    assert sections == [f.name for f in dataclasses.fields(PipelineConfig)]
    data_keys = [line.strip().split(":")[0] for line in text.split("\nmodel:")[0].splitlines()]
    assert data_keys[1:3] == [f.name for f in dataclasses.fields(DataConfig)][:2]


def test_a_mapping_config_is_copied_lists_included():
    source = {"model": {"hidden_units": [32, 16]}}
    config = load_config(source)
    assert config.model.hidden_units == [32, 16]
    config.model.hidden_units.append(8)
    assert source == {"model": {"hidden_units": [32, 16]}}


def test_an_override_value_may_hold_an_equals_sign_and_its_errors_name_it():
    assert load_config(overrides=["data.path=a=b.csv"]).data.path == "a=b.csv"
    with pytest.raises(ConfigError, match=r"the value of override 'train.epochs' is not valid"):
        load_config(overrides=["train.epochs=[1"])


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["compress.prune.initial_sparsity=0.75"], "must be below `sparsity` (0.75)"),
        (["compress.prune.begin_epoch=12"], "Received: begin_epoch=12.0, end_epoch=None"),
        (["compress.prune.end_epoch=21"], "end_epoch=21.0, epochs=20"),
        (
            ["export.onnx=false", "export.onnx_int8=true"],
            "Config keys `export.onnx_optimized` and `export.onnx_int8` make copies of the "
            "ONNX model: they need `export.onnx: true`.",
        ),
        (
            ["export.android=true", "export.tflite=[]"],
            "Config key `export.android` needs at least one `export.tflite` variant.",
        ),
        (
            ["export.tflite=[float32]", "export.android_variant=int8"],
            "Config key `export.android_variant` is 'int8', which `export.tflite` does not export "
            "(float32); add it there or choose one of those.",
        ),
        (["train.optimizer=5"], "Received: train.optimizer=5"),
        (["train.optimizer=zzzzzz"], "rmsprop. Received: train.optimizer='zzzzzz'"),
        (["train.epochs={a: 1}"], "`train.epochs` must be an integer"),
        (["train.learning_rate=fast"], "`train.learning_rate` must be a number"),
        (["compress.prune.enabled=3"], "`compress.prune.enabled` must be true or false"),
        (["data.path=[1]"], "`data.path` must be a string"),
        (["model.hidden_units=[a]"], "`model.hidden_units[0]` must be an integer"),
        (["train.early_stopping=3"], "`train.early_stopping` must be a mapping"),
    ],
)
def test_edges_of_the_cross_key_rules_and_the_type_names(overrides, expected):
    with pytest.raises(ConfigError) as info:
        load_config(overrides=overrides)
    assert expected in str(info.value)
    if "optimizer" in overrides[0]:  # nothing close to suggest: the message ends there
        assert str(info.value).endswith(expected) and "Did you mean" not in str(info.value)


def test_cross_key_rules_accept_their_limits():
    load_config(overrides=["compress.prune.end_epoch=20", "compress.prune.begin_epoch=19"])
    load_config(overrides=["export.onnx=false", "export.onnx_optimized=false"])
    load_config(overrides=["export.android=false", "export.tflite=[]"])
    load_config(overrides=["export.tflite=[int8]", "export.android_variant=int8"])


def test_yaml_errors_name_their_source():
    from tfpipeline._schema import _MAX_DEPTH, MAX_CONFIG_BYTES, parse_yaml

    with pytest.raises(ConfigError, match=r"^<string> is not valid YAML"):
        parse_yaml("a: [1")
    with pytest.raises(ConfigError) as large:
        parse_yaml("#" * (MAX_CONFIG_BYTES + 1), "big.yaml")
    assert str(large.value) == (
        f"big.yaml is too large for a config: at most {MAX_CONFIG_BYTES:,} bytes (256 KiB). "
        f"Received: {MAX_CONFIG_BYTES + 1:,} bytes"
    )
    siblings = "[[1], [2], [3], "  # depth is counted back down after each sibling
    deep = "[[[" + siblings + "[" * (_MAX_DEPTH - 4) + "1" + "]" * (_MAX_DEPTH - 3) + "]]]"
    with pytest.raises(ConfigError, match=f"nested deeper than {_MAX_DEPTH} levels"):
        parse_yaml(deep)
    fits = "[[[" + siblings + "[" * (_MAX_DEPTH - 5) + "1" + "]" * (_MAX_DEPTH - 4) + "]]]"
    assert parse_yaml(fits) is not None


REGRESSION = ["data.name=diabetes", "data.task=regression"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            ["train.early_stopping.monitor=val_mae"],
            "Config key `train.early_stopping.monitor` cannot be 'val_mae' for `data.task: "
            "classification`: the metrics logged are loss, accuracy (and their val_ forms).",
        ),
        (
            [*REGRESSION, "train.reduce_on_plateau.monitor=accuracy"],
            "Config key `train.reduce_on_plateau.monitor` cannot be 'accuracy' for `data.task: "
            "regression`: the metrics logged are loss, mae (and their val_ forms).",
        ),
        (
            ["train.reduce_on_plateau.enabled=true", "train.schedule.kind=exponential"],
            "`train.reduce_on_plateau` needs `train.schedule.kind: constant`: a schedule already "
            "sets the rate every step. Received: kind='exponential'",
        ),
        (
            ["train.schedule.kind=step", "train.schedule.boundaries=[2]"],
            "Config keys `train.schedule.boundaries` and `train.schedule.values` go together.",
        ),
        (
            ["train.schedule.kind=step", "train.schedule.values=[0.1]"],
            "Config keys `train.schedule.boundaries` and `train.schedule.values` go together.",
        ),
        (
            [
                "train.schedule.kind=step",
                "train.schedule.boundaries=[2]",
                "train.schedule.values=[1]",
            ],
            "Config key `train.schedule.values` must hold one more rate than `boundaries` has "
            "epochs. Received: boundaries=[2], values=[1.0]",
        ),
        (
            [
                "train.schedule.kind=step",
                "train.schedule.boundaries=[3, 2]",
                "train.schedule.values=[1, 0.5, 0.1]",
            ],
            "Config key `train.schedule.boundaries` must be increasing epochs. Received: [3, 2]",
        ),
        (
            ["data.source=csv"],
            "Config key `data.path` is required when `data.source` is 'csv' (the CSV file). "
            "Received: data.path=None",
        ),
        (
            ["data.source=tfrecord", "data.path=x.tfrecord"],
            "Config key `data.features` must list at least one feature when `data.source` is "
            "'tfrecord'",
        ),
        (
            ["data.image_size=[8]"],
            "Config key `data.image_size` must be [height, width]. Received: data.image_size=[8]",
        ),
        (
            ["data.name=diabetes"],
            "The built-in data set 'diabetes' is for regression: set `data.task: regression`. "
            "Received: data.task='classification'",
        ),
        (
            ["data.task=regression"],
            "The built-in data set 'digits' is for classification: set `data.task: "
            "classification`. Received: data.task='regression'",
        ),
        (
            [*REGRESSION, "data.class_weight=balanced"],
            "Config key `data.class_weight` applies to classification only; set it to null for "
            "`data.task: regression`. Received: data.class_weight='balanced'",
        ),
        (["compress.prune.sparsity_m_by_n=[2, 4, 8]"], "Received: sparsity_m_by_n=[2, 4, 8]"),
        (["compress.prune.sparsity_m_by_n=[4, 4]"], "Received: sparsity_m_by_n=[4, 4]"),
        (["data.split.train=0.79999"], "0.79999 + 0.1 + 0.1 = 0.99999"),
        (
            ["train.schedule.kind.deeper=1"],
            "Config key `train.schedule.kind` is a value, not a section; cannot set "
            "`train.schedule.kind.deeper`.",
        ),
    ],
)
def test_each_rule_across_keys_refuses_with_its_message(overrides, expected):
    with pytest.raises(ConfigError) as info:
        load_config(overrides=overrides)
    assert expected in str(info.value)


def test_rules_across_keys_accept_what_they_allow():
    load_config(overrides=[*REGRESSION, "train.early_stopping.monitor=val_mae"])
    load_config(overrides=["train.reduce_on_plateau.monitor=val_accuracy"])
    load_config(overrides=["train.reduce_on_plateau.enabled=true", "train.schedule.kind=constant"])
    steps = ["train.schedule.boundaries=[2, 4]", "train.schedule.values=[1, 0.5, 0.1]"]
    assert load_config(overrides=["train.schedule.kind=step", *steps]).train.schedule.values
    assert load_config(overrides=["compress.prune.sparsity_m_by_n=[2, 4]"])
    assert load_config(overrides=["data.split.train=0.8000001"])  # a rounding slip is forgiven
    with pytest.raises(ConfigError, match=r"Config key `train.schedule` must be a mapping\."):
        load_config({"train": {"schedule": 3}}, overrides=["train.schedule.kind=constant"])


def test_a_value_alias_means_its_choice_and_only_for_its_own_type():
    assert load_config(overrides=["train.mixed_precision=true"]).train.mixed_precision == (
        "mixed_float16"
    )
    assert load_config(overrides=["train.mixed_precision=false"]).train.mixed_precision == "none"
    assert load_config(overrides=["train.mixed_precision=bfloat16"]).train.mixed_precision == (
        "mixed_bfloat16"
    )
    with pytest.raises(ConfigError, match="must be a string. Received: train.mixed_precision=1"):
        load_config(overrides=["train.mixed_precision=1"])  # 1 == True, but not a boolean


def test_a_list_of_mappings_builds_each_item_and_names_a_bad_one():
    features = "[{name: pixels, dtype: float32, shape: [4]}, {name: tag, dtype: int64}]"
    config = load_config(
        overrides=["data.source=tfrecord", "data.path=x.tfrecord", f"data.features={features}"]
    )
    assert [(f.name, f.dtype, f.shape) for f in config.data.features] == [
        ("pixels", "float32", [4]),
        ("tag", "int64", []),
    ]
    with pytest.raises(ConfigError, match=r"`data.features\[1\].dtype` must be one of"):
        load_config(overrides=["data.features=[{name: a}, {name: b, dtype: text}]"])


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.learning_rate=fast", "must be a number. Received: train.learning_rate='fast'"),
        ("train.learning_rate=.inf", "must be a finite number. Received: train.learning_rate=inf"),
        ("compress.prune.enabled=3", "must be true or false. Received: compress.prune.enabled=3"),
        ("export.tflite=float32", "must be a list of strings. Received: export.tflite='float32'"),
        ("model.hidden_units=3", "must be a list of integers. Received: model.hidden_units=3"),
        ("data.features=3", "must be a list of mappings. Received: data.features=3"),
        ("train.schedule.values=3", "must be a list of numbers. Received: train.schedule.values=3"),
        (
            "data.source=image_dir",
            "(the folder with one sub-folder per class). Received: data.path=None",
        ),
        ("data.source=tfrecord", "(the TFRecord file or glob pattern). Received: data.path=None"),
    ],
)
def test_a_type_error_names_the_type_and_shows_the_value(override, expected):
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[override])
    assert str(info.value).endswith(expected)


# --- the pruning schedule: the rules of `compress.prune`, as `apply_pruning`'s arguments ---


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"sparsity": 1.5},
            "Argument `sparsity` must be in (0, 1). Received: sparsity=1.5",
        ),
        (
            {"sparsity": 0.5, "initial_sparsity": 1.0},
            "Argument `initial_sparsity` must be in [0, 1). Received: initial_sparsity=1.0",
        ),
        (
            {"sparsity": 0.5, "initial_sparsity": 0.5},
            "Argument `initial_sparsity` must be >= 0 and below `sparsity` (0.5). "
            "Received: initial_sparsity=0.5",
        ),
        (
            {"sparsity": 0.5, "schedule": "constnt"},
            "Argument `schedule` must be one of polynomial, constant. Did you mean 'constant'? "
            "Received: schedule='constnt'",
        ),
        (
            {"sparsity": 0.5, "sparsity_m_by_n": [4, 4]},
            "Argument `sparsity_m_by_n` must be two integers [m, n] with 0 < m < n, such as "
            "[2, 4]. Received: sparsity_m_by_n=[4, 4]",
        ),
        (
            {"sparsity": 0.5, "begin_step": 4},
            "Arguments `begin_step` and `end_step` must satisfy 0 <= begin_step < end_step. "
            "Received: begin_step=4, end_step=4",
        ),
    ],
)
def test_a_pruning_schedule_is_refused_by_the_rules_of_the_config_keys(fields, expected):
    from tfpipeline.config.pruning import PruningSchedule

    with pytest.raises(ValueError) as info:
        PruningSchedule(end_step=4, **fields)
    assert str(info.value) == expected
    with pytest.raises(TypeError, match=r"^Argument `sparsity` must be a number\. Received"):
        PruningSchedule("0.5", end_step=4)


def test_the_config_keys_and_the_schedule_share_each_rule():
    from tfpipeline.config import PruneConfig
    from tfpipeline.config.pruning import PruningSchedule

    config_rules = {f.name: f.metadata for f in dataclasses.fields(PruneConfig)}
    for f in dataclasses.fields(PruningSchedule):
        if f.metadata:
            assert config_rules[f.name] == f.metadata, f.name
    shared = [check for check in PruningSchedule.checks if check.config_key is not None]
    assert shared and set(shared) <= set(PruneConfig.checks)


def test_a_pruning_schedule_from_the_config_counts_steps_and_lasts_at_least_one():
    from tfpipeline.config.pruning import PruningSchedule

    prune = load_config(overrides=["compress.prune.sparsity_m_by_n=[2, 4]"]).compress.prune
    schedule = PruningSchedule.from_epochs(prune, steps_per_epoch=10)
    assert (schedule.begin_step, schedule.end_step) == (0, 120)  # 60% of 20 epochs
    assert schedule.sparsity_m_by_n == (2, 4)
    late = PruningSchedule.from_epochs(
        dataclasses.replace(prune, begin_epoch=1.0, end_epoch=1.05), steps_per_epoch=4
    )
    assert (late.begin_step, late.end_step) == (4, 5)


def test_an_argument_rule_states_its_range_as_an_interval_and_accepts_its_limits():
    from tfpipeline._schema import check_argument, rule
    from tfpipeline.config.compress import CENTROID_INIT, CLUSTERS

    refused = [
        ("clusters", 1, CLUSTERS, "must be >= 2. Received: clusters=1"),
        ("rate", 0.0, rule(low=0.0, low_open=True), "must be > 0. Received: rate=0.0"),
        ("share", 1.5, rule(high=1.0), "must be <= 1. Received: share=1.5"),
        ("share", 1.0, rule(high=1.0, high_open=True), "must be < 1. Received: share=1.0"),
        (
            "init",
            "linaer",
            CENTROID_INIT,
            "must be one of kmeans_plus_plus, linear, density_based, random. Did you mean "
            "'linear'? Received: init='linaer'",
        ),
    ]
    for name, value, declared, expected in refused:
        with pytest.raises(ValueError) as info:
            check_argument(name, value, declared)
        assert str(info.value) == f"Argument `{name}` {expected}"
    with pytest.raises(TypeError, match=r"^Argument `clusters` must be a number\. Received"):
        check_argument("clusters", True, CLUSTERS)
    check_argument("clusters", 2, CLUSTERS)
    check_argument("share", 1.0, rule(high=1.0))
    check_argument("init", "linear", CENTROID_INIT)


def test_an_argument_checked_by_a_config_keys_rule_is_told_the_interval():
    from tfpipeline._schema import broken_rule
    from tfpipeline.config.compress import CLUSTERS
    from tfpipeline.config.pruning import SPARSITY

    assert broken_rule(1.5, SPARSITY) == "must be in (0, 1)."
    assert broken_rule(0.0, SPARSITY) == "must be in (0, 1)."
    assert broken_rule(0.5, SPARSITY) is None
    assert broken_rule(1, CLUSTERS) == "must be >= 2."
    assert broken_rule(2, CLUSTERS) is None
