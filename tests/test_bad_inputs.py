"""A corpus of bad inputs, fed to the command line as a user types them (in process).

Each must end with exit code 2 (usage, configuration or input) or 1 (a failed run or
check), one line naming what was wrong, and no Python traceback.
"""

import contextlib
import errno
import json
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfpipeline import ConfigError, TfpipelineError, export_tflite, from_dict
from tfpipeline.cli import main

# one worker builds the module's fixtures (see pyproject's --dist loadgroup)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("bad_inputs")]

FAST = ["--set", "train.epochs=1", "--set", "compress.prune.enabled=false",
        "--set", "export={saved_model: false, onnx: false, tflite: [float32]}",
        "--set", "verify.latency_runs=2"]  # fmt: skip


DOG = '"dog\nx"'  # a quoted CSV label with a line break in it


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Bad files of every kind, written once."""
    root = tmp_path_factory.mktemp("bad")
    (root / "broken.yaml").write_text("train:\n  epochs: [1\n")
    (root / "list.yaml").write_text("- 1\n- 2\n")
    bomb = ["train:", "  epochs:", "    - &l0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
    bomb += [f"    - &l{i} [{','.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]  # 9**9 items
    (root / "bomb.yaml").write_text("\n".join(bomb) + "\n")
    (root / "huge_int.yaml").write_text("train:\n  epochs: " + "1" * 5000 + "\n")
    (root / "config_dir").mkdir()
    (root / "empty.csv").write_bytes(b"")
    (root / "header.csv").write_text("a,b,label\n")
    (root / "one_class.csv").write_text("a,b,label\n" + "".join(f"{i},{i},x\n" for i in range(30)))
    (root / "all_nan.csv").write_text(
        "a,b,label\n" + "".join(f"nan,{i},{i % 2}\n" for i in range(30))
    )
    (root / "no_label.csv").write_text("a,b\n1,2\n3,4\n")
    (root / "newline_label.csv").write_text(
        "a,b,label\n" + "".join(f"{i},{i},{'cat' if i % 2 else DOG}\n" for i in range(30))
    )
    (root / "text.csv").write_text(
        "a,b,label\n" + "".join(f"x{i},{i},{i % 2}\n" for i in range(30))
    )
    (root / "ragged.csv").write_text("a,b,label\n1,2,0\n1,2\n")
    (root / "blank_header.csv").write_text(",a,label\n0,1,x\n1,2,y\n")
    (root / "twice.csv").write_text("a,b,b,label\n0,1,2,x\n")
    images = root / "images"
    for name in ("cat", "dog"):
        (images / name).mkdir(parents=True)
        for i in range(3):
            (images / name / f"{i}.png").write_text("not an image")
    (root / "empty_images").mkdir()
    (root / "zero.png").write_bytes(b"")
    (root / "garbage.tfrecord").write_bytes(b"\x00\x01not a record" * 10)
    (root / "truncated.tflite").write_bytes(b"TFL3" + b"\0" * 40)
    (root / "fake.onnx").write_text("this is not onnx")
    (root / "not_saved_model").mkdir()
    np.save(root / "wrong_shape.npy", np.zeros((2, 63), dtype=np.float32))
    np.save(root / "strings.npy", np.array(["a"] * 64))
    (root / "words.csv").write_text("a,b\nhello,1\n")
    (root / "output_file").write_text("a file, not a folder")
    rows = "".join(f"{i},{i % 7},{'x' if i % 2 else 'y'}\n" for i in range(30))
    (root / "latin1.csv").write_bytes(("a,b,label\n" + rows + "1,2,caf\xe9\n").encode("latin-1"))
    (root / "utf16.csv").write_bytes(("a,b,label\n" + rows).encode("utf-16"))
    (root / "twice64.csv").write_text(",".join(["a"] * 64) + "\n" + ",".join(["0"] * 64) + "\n")
    (root / "header64.csv").write_text(",".join(f"f{i}" for i in range(64)) + "\n")
    np.save(root / "objects.npy", np.array([{"a": 1}] * 64, dtype=object), allow_pickle=True)
    np.save(root / "complex.npy", np.zeros((2, 64), dtype=np.complex64))
    np.save(root / "no_samples.npy", np.zeros((0, 64), dtype=np.float32))
    from numpy.lib import format as npy

    with open(root / "lying.npy", "wb") as handle:  # promises 4 TB, holds 256 bytes
        npy.write_array_header_1_0(
            handle, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 10**6)}
        )
        handle.write(b"\0" * 256)
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(root / "whole.tfrecord")) as writer:
        for i in range(10):
            feature = {"x": tf.train.Feature(float_list=tf.train.FloatList(value=[i, 1.0]))}
            feature["label"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 2]))
            writer.write(
                tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
            )
    (root / "cut.tfrecord").write_bytes((root / "whole.tfrecord").read_bytes()[:-7])
    loop = root / "loop_images"
    for name in ("cat", "dog"):
        (loop / name).mkdir(parents=True)
    (loop / "all").symlink_to(loop, target_is_directory=True)
    (root / "existing.yaml").write_text("train:\n  epochs: 2\n")
    import tf_keras as keras

    inputs = keras.Input((64,))
    plain = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    export_tflite(plain, root / "plain.tflite")
    np.save(root / "x64.npy", np.zeros((4, 64), dtype=np.float32))
    keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs)).save(root / "code.keras")
    return root


# (arguments with {root} for the files folder, exit code, text the message must hold)
CORPUS = [
    (["run", "--config", "{root}/broken.yaml"], 2, "is not valid YAML"),
    (["run", "--config", "{root}/list.yaml"], 2, "must hold a mapping of sections"),
    (["run", "--config", "{root}/bomb.yaml"], 2, "line 4: found the alias *l0; aliases"),
    (["run", "--config", "{root}/huge_int.yaml"], 2, "line 2: cannot read this value: Exceeds"),
    (["run", "--set", "train.epochs=" + "1" * 5000], 2, "cannot read this value: Exceeds"),
    (["run", "--config", "{root}/missing.yaml"], 2, "Config file not found"),
    (["run", "--config", "{root}/config_dir"], 2, "config_dir"),
    (["run", "--set", "train.epoch=3"], 2, "Did you mean `train.epochs`?"),
    (["run", "--set", "train.epochs=ten"], 2, "`train.epochs` must be an integer"),
    (["run", "--set", "train.epochs=0"], 2, "`train.epochs` must be >= 1"),
    (["run", "--set", "train.epochs=10000000"], 2, "`train.epochs` must be >= 1 and <= 100000"),
    (["run", "--set", "train.learning_rate=.nan"], 2, "must be a finite number"),
    (["run", "--set", "train.learning_rate=.inf"], 2, "must be a finite number"),
    (["run", "--set", "train.learning_rate=-0.1"], 2, "`train.learning_rate` must be > 0"),
    (["run", "--set", "train.batch_size=0"], 2, "`train.batch_size` must be >= 1"),
    (["run", "--set", "train.optimizer=adamm"], 2, "Did you mean"),
    (["run", "--set", "train.epochs"], 2, "must look like KEY=VALUE"),
    (["run", "--set", "train.epochs.value=3"], 2, "is a value, not a section"),
    (["run", "--set", "data.split.train=0.5"], 2, "must sum to 1"),
    (["run", "--set", "data.source=csv"], 2, "`data.path` is required"),
    (["run", "--set", "export.tflite=[int4]"], 2, "must be one of float32"),
    (["run", "--set", "compress.prune.sparsity=1.5"], 2, "`compress.prune.sparsity` must be"),
    (["run", "--set", "compress.cluster.clusters=1"], 2, "`compress.cluster.clusters` must be"),
    (["run", "--set", "compress.qat.enabled=true", "--set", "compress.order=[qat, prune]"],
     2, "Accepted orders"),
    (["run", "--set", "export.android_variant=int16x8"], 2, "does not export"),
    (["run", "--set", "data.source=csv", "--set", "data.path={root}/nowhere.csv"], 2,
     "nowhere.csv"),
    (["run", "--set", "data.source=csv", "--set", "data.path={root}/empty.csv"], 2, "is empty"),
    (["run", "--set", "data.source=csv", "--set", "data.path={root}/header.csv"], 2,
     "has a header but no data rows"),
    (["run", "--set", "data.source=csv", "--set", "data.path={root}/one_class.csv"], 2,
     "a single class after cleaning ('x')"),
    (["run", "--set", "data.source=csv", "--set", "data.path={root}/all_nan.csv"], 2,
     "No feature column is left to train on (a: no value at all; b: a row number"),
    (["run", "--set", "data.source=csv", "--set", "data.path={root}/newline_label.csv"], 2,
     "Class label 'dog\\nx' holds a line break"),
    (["run", "--set", "data.source=csv", "--set", "data.path={root}/no_label.csv"], 2,
     "Label column 'label' not found"),
    (["run", "--set", "data.source=csv", "--set", "data.path={root}/text.csv"], 2,
     "No feature column is left to train on (a: identifier-like: 24 distinct values in 24 rows;"
     " b: a row number"),
    (["run", "--set", "data.source=csv", "--set", "data.path={root}/blank_header.csv"], 2,
     "column 1 has no name in the header row"),
    (["run", "--set", "data.source=csv", "--set", "data.path={root}/twice.csv"], 2,
     "column name 'b' appears twice (columns 2 and 3)"),
    (["run", "--set", "data.source=csv", "--set", "data.path={root}/ragged.csv"], 2,
     "line 3: 2 fields"),
    (["run", "--set", "data.source=csv", "--set", "data.path={root}/images"], 2,
     "is a folder, not a file"),
    (["run", "--set", "data.source=image_dir", "--set", "data.path={root}/images"], 2,
     "skipped 6 unreadable files"),
    (["run", "--set", "data.source=image_dir", "--set", "data.path={root}/empty_images"], 2,
     "empty_images"),
    (["run", "--set", "data.source=tfrecord", "--set", "data.path={root}/garbage.tfrecord",
      "--set", "data.features=[{name: x, dtype: float32, shape: [4]}]"], 2, "garbage.tfrecord"),
    (["run", "--output", "{root}/output_file", *FAST], 2, "is not a folder"),
    (["run", "--output", "{root}/output_file/run", *FAST], 2, "Cannot create the run folder"),
    (["verify", "{root}/truncated.tflite"], 1, "is not a readable .tflite model"),
    (["verify", "{root}/not_saved_model"], 1, "Cannot tell the format"),
    (["predict", "{root}/fake.onnx", "{root}/wrong_shape.npy"], 1,
     "is not a readable .onnx model"),
    (["predict", "{root}/missing.tflite", "{root}/wrong_shape.npy"], 1, "Model file not found"),
    (["benchmark", "{root}/zero.png"], 1, "Cannot tell the format"),
    (["benchmark", "{root}/plain.tflite", "--keras", "{root}/code.keras", "--input",
      "{root}/x64.npy"], 2, "loads Keras files in safe mode"),
    (["init", "{root}/existing.yaml"], 2, "already exists; pass --force"),
    (["compress-sweep", "--sparsities", "1.5"], 2, "Sweep sparsities must be in (0, 1)"),
    (["compress-sweep", "--sparsities", "half"], 2, "expected numbers separated by commas"),
    (["compress-sweep", "--max-accuracy-drop", "-1"], 2, "must be in [0, 100]"),
    (["run", "--set", "data.source=csv", "--set", "data.path={root}/latin1.csv"], 2,
     "latin1.csv, line 32: byte 0xe9 is not UTF-8 text"),
    (["run", "--set", "data.source=csv", "--set", "data.path={root}/utf16.csv"], 2,
     "is UTF-16 text; tfpipeline reads UTF-8"),
    (["predict", "{root}/plain.tflite", "{root}/latin1.csv"], 2, "iconv -f latin1 -t utf-8"),
    (["predict", "{root}/plain.tflite", "{root}/twice64.csv"], 2, "column name 'a' appears twice"),
    (["predict", "{root}/plain.tflite", "{root}/header64.csv"], 2, "header64.csv holds no samples"),
    (["predict", "{root}/plain.tflite", "{root}/objects.npy"], 2, "Cannot read"),
    (["predict", "{root}/plain.tflite", "{root}/complex.npy"], 2, "must be real numbers"),
    (["predict", "{root}/plain.tflite", "{root}/no_samples.npy"], 2, "holds no samples"),
    (["predict", "{root}/plain.tflite", "{root}/lying.npy"], 2, "lying.npy is not a whole .npy"),
    (["predict", "--top", "-2", "{root}/plain.tflite", "{root}/x64.npy"], 2,
     "argument --top: expected a whole number >= 1"),
    (["benchmark", "{root}/plain.tflite", "--input", "{root}/x64.npy", "--runs", "0"], 2,
     "argument --runs: expected a whole number >= 1"),
    (["benchmark", "{root}/plain.tflite", "--input", "{root}/x64.npy", "--threads", "-7"], 2,
     "argument --threads: expected a whole number >= 1"),
    (["benchmark", "{root}/plain.tflite", "--input", "{root}/none.npy"], 2,
     "Input file not found"),
    (["benchmark", "{root}/plain.tflite", "--input", "{root}/objects.npy"], 2, "objects.npy"),
    (["run", "--set", "data.source=tfrecord", "--set", "data.path={root}/cut.tfrecord",
      "--set", "data.features=[{name: x, dtype: float32, shape: [2]}]"], 2,
     "cut.tfrecord: record 10 (from byte"),
    (["run", "--set", "data.source=image_dir", "--set", "data.path={root}/loop_images"], 2,
     "loop_images/all leads back to"),
    (["run", "--set", "model.hidden_units=[1000000, 1000000]"], 2,
     "`model.hidden_units` asks for a Dense layer of 1,000,001,000,000 weights"),
    (["run", "--set", "train.learning.rate=1"], 2, "Did you mean `train.learning_rate`?"),
    (["init", "{root}/output_file/tfpipeline.yaml"], 2, "output_file is a file, not a folder"),
    (["run", "--no-such-flag"], 2, "unrecognized arguments"),
    (["launch"], 2, "invalid choice"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "code", "message"), CORPUS, ids=range(len(CORPUS)))
def test_bad_input_gives_a_clear_line_and_the_right_exit_code(
    files, tmp_path, monkeypatch, capsys, args, code, message
):
    monkeypatch.chdir(tmp_path)  # a default run folder would land here
    argv = [a.replace("{root}", str(files)) for a in args]
    assert main(argv) == code
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err and err.count("tfpipeline: error:") == 1


def test_the_docs_state_the_corpus_size():
    from pathlib import Path

    page = (Path(__file__).parents[1] / "docs" / "reliability.md").read_text("utf-8")
    assert f"corpus of {len(CORPUS)} such inputs" in " ".join(page.split())


def test_predict_refuses_inputs_that_do_not_fit(files, tiny_run, capsys):
    run_dir, _ = tiny_run
    model = str(run_dir / "model_int8.tflite")
    for name, message in [
        ("wrong_shape.npy", "must have shape (n, 64)"),
        ("strings.npy", "must be numeric"),
        ("words.csv", "holds 'hello'"),
        ("zero.png", "is an image, but the model takes samples of shape (64,)"),
    ]:
        assert main(["predict", model, str(files / name)]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err


def test_unicode_and_spaces_in_paths_work(tmp_path, capsys):
    folder = tmp_path / "données d'essai ü"
    assert main(["run", "--output", str(folder / "run 1"), "-q", *FAST]) == 0
    manifest = json.loads((folder / "run 1" / "manifest.json").read_text("utf-8"))
    assert manifest["run_name"] == "run 1" and manifest["status"] == "passed"


def test_a_full_disk_while_writing_leaves_no_partial_file(tmp_path, monkeypatch, digits):
    from pathlib import Path

    from tfpipeline import build_model, load_config

    model = build_model(load_config().model, digits)
    target = tmp_path / "model.tflite"
    target.write_bytes(b"the earlier model")

    def full_disk(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(TfpipelineError, match="No space left on device"):
        export_tflite(model, target)
    monkeypatch.undo()
    assert target.read_bytes() == b"the earlier model"  # untouched
    assert [p.name for p in tmp_path.iterdir()] == ["model.tflite"]  # no temporary left


def test_overwrite_replaces_a_finished_run_only_once_the_new_one_passed(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["run", "--output", out, "-q", *FAST]) == 0
    first = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert main(["run", "--output", out, "-q", *FAST]) == 2
    assert "--overwrite" in capsys.readouterr().err
    failing = [*FAST, "--set", "verify.min_accuracy=1.0"]
    assert main(["run", "--output", out, "-q", "--overwrite", *failing]) == 1
    kept = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert kept["created"] == first["created"] and kept["status"] == "passed"
    (tmp_path / "run" / "my_notes.txt").write_text("mine")
    assert main(["run", "--output", out, "-q", "--overwrite", *FAST]) == 2
    assert "did not write (my_notes.txt)" in capsys.readouterr().err
    (tmp_path / "run" / "my_notes.txt").unlink()
    outside = tmp_path / "outside"
    outside.mkdir()
    assert (tmp_path / ".tfpipeline-run.new" / "manifest.json").is_file()  # the failed run
    shutil.rmtree(tmp_path / ".tfpipeline-run.new")
    (tmp_path / ".tfpipeline-run.new").symlink_to(outside)  # planted where the new run goes
    assert main(["run", "--output", out, "-q", "--overwrite", *FAST]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside", "run"]
    assert not list(outside.iterdir()) and not (tmp_path / "run").is_symlink()
    assert (tmp_path / "run" / "report.html").is_file()


KEYS = ["train.epochs", "train.learning_rate", "train.optimizer", "data.split.train",
        "compress.prune.sparsity", "export.tflite", "verify.min_accuracy",
        "model.hidden_units", "data.source", "compress.order", "train.schedule.kind",
        "nonsense.key", "train"]  # fmt: skip
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-10**9, 10**9), st.floats(allow_nan=True),
    st.text(max_size=12), st.lists(st.one_of(st.integers(), st.text(max_size=5)), max_size=4),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=5))
def test_any_config_loads_or_raises_config_error(flat):
    raw: dict = {}
    for key, value in flat.items():
        node = raw
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[last] = value
    with contextlib.suppress(ConfigError):  # the one error a config may raise
        from_dict(raw)
