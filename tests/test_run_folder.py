"""The run folder: one process at a time, the user's files never touched, a killed run
resumed only with its own config."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tfpipeline import ConfigError, load_config
from tfpipeline._atomic import remove_path, replace_folder
from tfpipeline._keras import keras, tf
from tfpipeline.callbacks import check_resumable
from tfpipeline.cli import main
from tfpipeline.config import dump_config
from tfpipeline.errors import TfpipelineError
from tfpipeline.run_folder import (
    LOCK,
    MANIFEST,
    RUN_CONFIG,
    STAGING,
    choose_run_dir,
    new_timestamped_dir,
    overwrite_dir,
    promote,
    remove_leftovers,
    run_lock,
    save_keras,
)

HOLD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from tfpipeline.run_folder import run_lock
    with run_lock(Path(sys.argv[1])):
        print("held", flush=True)
        time.sleep(60)
    """
)


def test_clean_up_removes_only_what_the_package_left(tmp_path):
    mine = [".tfpipeline-model.tflite.x1.tmp", ".tfpipeline-saved_model.y2.tmp", STAGING]
    users = [".notes.tmp", ".cache.tmp", "model.tflite.tmp", ".tfpipeline"]
    for name in mine[:1] + users[:1] + users[2:]:
        (tmp_path / name).write_text("x")
    for name in mine[1:] + users[1:2]:
        (tmp_path / name).mkdir()
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / ".tfpipeline-best.keras.z3.tmp").write_text("x")
    remove_leftovers(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*users, "checkpoints"])
    assert not list((tmp_path / "checkpoints").iterdir())


def test_an_output_folder_holding_the_users_files_is_refused(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "labels.txt").write_text("mine too")
    text = dump_config(load_config())
    for overwrite in (False, True):
        with pytest.raises(ConfigError, match=r"did not write \(labels.txt, notes.txt\)"):
            choose_run_dir(tmp_path, text, overwrite)
    assert main(["run", "--output", str(tmp_path), "-q"]) == 2
    assert "did not write" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.txt", "notes.txt"]
    assert (tmp_path / "labels.txt").read_text() == "mine too"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert choose_run_dir(empty, text) == empty


def test_a_second_process_on_a_held_folder_is_refused_naming_the_holder(tmp_path, capsys):
    folder = tmp_path / "run"
    with run_lock(folder):
        record = json.loads((folder / LOCK).read_text())
        assert record["pid"] == os.getpid()
        holder = rf"in use by another tfpipeline process \(process {os.getpid()} on "
        with pytest.raises(ConfigError, match=holder), run_lock(folder):
            pass
        assert main(["run", "--output", str(folder), "-q"]) == 2
        assert f"process {os.getpid()}" in capsys.readouterr().err
        assert sorted(p.name for p in folder.iterdir()) == [LOCK]  # the refused run wrote nothing
    assert not folder.exists()  # released, and the empty folder it made is gone


def test_a_killed_holders_lock_does_not_block_the_next_run(tmp_path):
    folder = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(ConfigError, match=f"process {holder.pid} on "), run_lock(folder):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (folder / LOCK).exists()  # left behind by the killed process ...
    with run_lock(folder):  # ... and stale: the system released its lock
        assert json.loads((folder / LOCK).read_text())["pid"] == os.getpid()


def test_the_lock_is_never_written_through_a_link_or_into_a_folder(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for name, plant in (("link", lambda p: p.symlink_to(victim)), ("folder", Path.mkdir)):
        folder = tmp_path / name
        folder.mkdir()
        plant(folder / LOCK)
        with pytest.raises(ConfigError, match="is not tfpipeline's lock file"), run_lock(folder):
            pass
    assert victim.read_text() == "precious"


def test_a_run_folder_holding_the_users_files_is_refused_even_with_overwrite(tmp_path):
    text = dump_config(load_config())
    (tmp_path / RUN_CONFIG).write_text(text)
    for name in ("manifest.json", "model_int8.tflite", "confusion_matrix.png"):
        (tmp_path / name).write_text("the package's")
    (tmp_path / "saved_model").mkdir()
    assert choose_run_dir(tmp_path, text, overwrite=True) == tmp_path
    (tmp_path / "my_analysis").mkdir()
    for overwrite in (False, True):
        with pytest.raises(ConfigError, match=r"did not write \(my_analysis\)"):
            choose_run_dir(tmp_path, text, overwrite)


def test_a_linked_output_folder_is_used_where_it_points(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    text = dump_config(load_config())
    assert choose_run_dir(tmp_path / "link", text) == tmp_path / "real"


def test_removing_a_planted_link_never_touches_what_it_points_at(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    (tmp_path / "run").mkdir()
    (tmp_path / ".tfpipeline-run.old").symlink_to(outside)  # where the old run retires to
    new = tmp_path / "new"
    new.mkdir()
    replace_folder(new, tmp_path / "run")
    remove_path(tmp_path / "planted")  # missing: nothing to do
    (tmp_path / "planted").symlink_to(outside)
    remove_path(tmp_path / "planted")
    assert (outside / "keep.txt").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside", "run"]
    assert not (tmp_path / "run").is_symlink()


def test_a_killed_run_is_resumed_only_with_the_config_it_ran(tmp_path):
    config = load_config()
    (tmp_path / RUN_CONFIG).write_text(dump_config(config))
    assert choose_run_dir(tmp_path, dump_config(config)) == tmp_path
    exports = load_config(overrides=["export.onnx=false", "verify.latency_runs=3"])
    assert choose_run_dir(tmp_path, dump_config(exports)) == tmp_path  # run again in full
    other = load_config(overrides=["train.learning_rate=0.05", "model.hidden_units=[32]"])
    with pytest.raises(ConfigError) as refused:
        choose_run_dir(tmp_path, dump_config(other))
    assert "changed: model.hidden_units, train.learning_rate)" in str(refused.value)
    assert "--overwrite" in str(refused.value)
    assert choose_run_dir(tmp_path, dump_config(other), overwrite=True) == tmp_path
    (tmp_path / RUN_CONFIG).write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot be read"):
        choose_run_dir(tmp_path, dump_config(config))


def _dense(units):
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(units), keras.layers.Dense(2)])


def test_a_training_state_saved_by_another_model_is_refused(tmp_path):
    state = tmp_path / "training_state"
    tf.train.Checkpoint(model=_dense(8)).save(str(state / "chief" / "ckpt"))
    check_resumable(state, _dense(8))
    with pytest.raises(ConfigError, match=r"does not fit this model .*shape \(8,\).*--overwrite"):
        check_resumable(state, _dense(16))


def test_a_killed_sweeps_folder_is_taken_and_a_folder_of_the_users_refused(tmp_path):
    from tfpipeline.sweep import _sweep_dir

    (tmp_path / "sweep_config.yaml").write_text("data: {}\n")
    (tmp_path / "variants").mkdir()
    (tmp_path / "sweep.md").write_text("an earlier table")
    assert _sweep_dir(tmp_path) == tmp_path
    (tmp_path / "thesis.tex").write_text("mine")
    with pytest.raises(ConfigError, match=r"did not write \(thesis.tex\)"):
        _sweep_dir(tmp_path)


def test_a_config_refused_when_the_model_is_built_leaves_no_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(["run", "--output", str(out), "-q", "--set", "model.hidden_units=[1000000, 1000000]"])
        == 2
    )
    assert "model.hidden_units" in capsys.readouterr().err
    assert not out.exists()  # so the corrected command runs there as a new run


# --- where a run goes, and how its files reach their places ------------------------------


class _FixedClock:
    @staticmethod
    def now():
        import datetime

        return datetime.datetime(2026, 1, 2, 3, 4, 5)


def test_without_output_a_run_resumes_its_newest_unfinished_folder_or_starts_a_new_one(
    tmp_path, monkeypatch
):
    import types

    from tfpipeline import run_folder

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(run_folder, "dt", types.SimpleNamespace(datetime=_FixedClock))
    assert choose_run_dir(None, "a: 1\n") == Path("saved_models/20260102-030405")
    for name, text, finished in [
        ("20260101-000000", "a: 1\n", False),
        ("20260101-000001", "a: 1\n", False),  # the newest unfinished run of this config
        ("20260101-000002", "a: 1\n", True),
        ("20260101-000003", "a: 2\n", False),
    ]:
        folder = tmp_path / "saved_models" / name
        folder.mkdir(parents=True)
        (folder / RUN_CONFIG).write_text(text)
        if finished:
            (folder / MANIFEST).write_text("{}")
    assert choose_run_dir(None, "a: 1\n") == Path("saved_models/20260101-000001")
    assert choose_run_dir(None, "a: 3\n") == Path("saved_models/20260102-030405")
    (tmp_path / "saved_models" / "20260102-030405").mkdir()
    assert new_timestamped_dir("sweep-") == Path("saved_models/sweep-20260102-030405")
    assert new_timestamped_dir() == Path("saved_models/20260102-030405-2")
    (tmp_path / "saved_models" / "20260102-030405-2").mkdir()
    assert new_timestamped_dir() == Path("saved_models/20260102-030405-3")


def test_an_overwriting_run_is_built_beside_the_folder_it_replaces(tmp_path):
    assert overwrite_dir(tmp_path / "run") == tmp_path / ".tfpipeline-run.new"


def test_promote_replaces_a_file_or_a_folder_and_never_follows_a_link(tmp_path):
    staged = tmp_path / "staged"
    staged.mkdir()
    (staged / "model.tflite").write_text("new")
    (staged / "saved_model").mkdir()
    (staged / "saved_model" / "new.pb").write_text("new")
    run = tmp_path / "run"
    (run / "saved_model").mkdir(parents=True)
    (run / "saved_model" / "old.pb").write_text("old")
    (run / "model.tflite").write_text("old")
    assert promote(staged / "model.tflite", run / "model.tflite") == run / "model.tflite"
    promote(staged / "saved_model", run / "saved_model")
    assert (run / "model.tflite").read_text() == "new"
    assert [p.name for p in (run / "saved_model").iterdir()] == ["new.pb"]
    users = tmp_path / "users"
    users.mkdir()
    (users / "keep.txt").write_text("mine")
    (run / "linked").symlink_to(users)
    (staged / "linked").write_text("new")
    promote(staged / "linked", run / "linked")
    assert not (run / "linked").is_symlink() and (run / "linked").read_text() == "new"
    assert (users / "keep.txt").read_text() == "mine"
    (staged / "first.onnx").write_text("new")
    promote(staged / "first.onnx", run / "first.onnx")  # nothing there before
    assert (run / "first.onnx").read_text() == "new"


def test_a_keras_model_is_saved_whole_and_leaves_no_temporary(tmp_path):
    model = keras.Sequential([keras.layers.Input((3,)), keras.layers.Dense(2)])
    path = tmp_path / "model.keras"
    path.write_text("an earlier model")
    save_keras(model, path)
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]
    restored = keras.models.load_model(path)
    for saved, loaded in zip(model.get_weights(), restored.get_weights(), strict=True):
        np.testing.assert_array_equal(saved, loaded)
    nowhere = tmp_path / "missing" / "model.keras"
    with pytest.raises(TfpipelineError, match=f"^Writing {nowhere} failed: No such file"):
        save_keras(model, nowhere)


def test_a_recorded_config_of_exactly_the_size_limit_is_read(tmp_path):
    from tfpipeline._schema import MAX_CONFIG_BYTES

    text = dump_config(load_config())
    padding = MAX_CONFIG_BYTES - len(text.encode()) - 1
    (tmp_path / RUN_CONFIG).write_text(text + "#" * padding + "\n")
    assert (tmp_path / RUN_CONFIG).stat().st_size == MAX_CONFIG_BYTES
    assert choose_run_dir(tmp_path, text) == tmp_path


def test_clean_up_never_reaches_through_a_linked_folder(tmp_path):
    users = tmp_path / "users"
    users.mkdir()
    (users / ".tfpipeline-theirs.tmp").write_text("not ours to remove")
    run = tmp_path / "run"
    run.mkdir()
    (run / "linked").symlink_to(users)
    remove_leftovers(run)
    assert (users / ".tfpipeline-theirs.tmp").exists()


def test_a_folder_refused_for_what_it_holds_is_named_with_the_way_out(tmp_path):
    text = dump_config(load_config())
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="Output path exists and is not a folder: .*file$"):
        choose_run_dir(tmp_path / "file", text)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / RUN_CONFIG).write_text(text)
    (tmp_path / "run" / MANIFEST).write_text("{}")
    with pytest.raises(ConfigError, match=r"already holds a finished run \(manifest.json\);"):
        choose_run_dir(tmp_path / "run", text)
    (tmp_path / "run" / MANIFEST).unlink()
    (tmp_path / "run" / RUN_CONFIG).write_text("- a list, not a config\n")
    with pytest.raises(ConfigError, match=r"another config \(changed: data, model, train\)"):
        choose_run_dir(tmp_path / "run", text)
    (tmp_path / "run" / RUN_CONFIG).write_text("x: 1\n" * 60_000)  # over 256 KiB
    with pytest.raises(ConfigError, match=rf"its {RUN_CONFIG} cannot be read \(it is over 256"):
        choose_run_dir(tmp_path / "run", text)
    (tmp_path / "run" / RUN_CONFIG).write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match=str(tmp_path / "run" / RUN_CONFIG)):
        choose_run_dir(tmp_path / "run", text)


def test_the_changed_keys_are_listed_in_order_four_at_most(tmp_path):
    from tfpipeline._text import listed as _listed
    from tfpipeline.run_folder import _changed_keys

    old = {"b": 1, "a": {"x": 1, "y": 2}, 3: "n", "gone": 1}
    new = {"b": 1, "a": {"x": 1, "y": 3}, 3: "m", "new": 1}
    assert _changed_keys(old, new, "s") == ["s.3", "s.a.y", "s.gone", "s.new"]
    assert _changed_keys([1], [2], "s") == ["s"] and _changed_keys([1], [1], "s") == []
    assert _listed(list("abcd")) == "a, b, c, d"
    assert _listed(list("abcde")) == "a, b, c, d and 1 more"
    assert _listed(list("abcdef")) == "a, b, c, d and 2 more"


def test_the_lock_records_who_holds_it(tmp_path):
    from tfpipeline._lock import _holder_text

    with run_lock(tmp_path):
        record = json.loads((tmp_path / LOCK).read_text())
    assert record["pid"] == os.getpid() and record["started"].endswith("+00:00")
    text = json.dumps({"pid": 7, "host": "h" * 150, "started": "s" * 50})
    assert _holder_text(text) == f"process 7 on {'h' * 100} since {'s' * 40}"
    assert _holder_text('{"pid": "x"}') == _holder_text("not json") == "holder unknown"


def test_the_run_folder_object_stages_promotes_and_discards_by_layout_name(tmp_path):
    from tfpipeline.run_folder import MANIFEST, STAGING, RunFolder

    folder = RunFolder(tmp_path / "new" / "run")  # its parent is made too
    folder.create()
    (folder.path / f"{STAGING}" / "half").mkdir(parents=True)  # a killed run's staging
    folder.create()
    assert not (folder.path / STAGING).exists()
    folder.write_config("data: {}\n")
    folder.write_labels(["cat", "dog"])
    folder.write_labels([])  # regression: no labels file is written over the classes
    assert folder.config_file.read_text() == "data: {}\n"
    assert folder.labels.read_text() == "cat\ndog\n"
    assert folder.manifest == folder.path / MANIFEST
    staging = folder.start_staging()
    (staging / "model_int8.tflite").write_bytes(b"new")
    (staging / "model.onnx").write_bytes(b"bad")
    (folder.path / "model.onnx").write_bytes(b"a killed attempt's")
    assert folder.promote(staging / "model_int8.tflite").read_bytes() == b"new"
    folder.discard(staging / "model.onnx")
    folder.end_staging()
    assert sorted(p.name for p in folder.path.iterdir()) == [
        "labels.txt",
        "model_int8.tflite",
        "run_config.yaml",
    ]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"Cannot create the run folder .*file/run"):
        RunFolder(tmp_path / "file" / "run").create()
