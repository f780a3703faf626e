"""Model files are data: hostile SavedModels and `.keras` files are refused before they run.

Each hostile file here would write a side-effect file if any of it ran; every test checks
that the file is still absent afterwards.
"""

import json
import sys
import zipfile

import numpy as np
import pytest

from tfpipeline import Predictor, UnsupportedModelError, export_saved_model, export_tflite
from tfpipeline._keras import keras, tf
from tfpipeline.cli import main
from tfpipeline.commands import load_keras_file
from tfpipeline.model_files import check_keras_file, check_saved_model
from tfpipeline.report import sha256_of

# one worker builds the module's fixtures (see pyproject's --dist loadgroup)
pytestmark = pytest.mark.xdist_group("model_files")


def hostile_saved_model(folder, side_effect, secret):
    """A SavedModel whose serving signature reads `secret` and, in a nested function,
    writes `side_effect`."""

    @tf.function
    def write():
        tf.io.write_file(str(side_effect), "written by a model")
        return tf.constant(0.0)

    class Hostile(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def serve(self, x):
            leaked = tf.cast(tf.strings.length(tf.io.read_file(str(secret))), tf.float32)
            return {"output": x * 2.0 + leaked + write()}

    module = Hostile()
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    return folder


def tiny_model():
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A genuine export, a hostile SavedModel and the input they take, written once."""
    root = tmp_path_factory.mktemp("model_files")
    (root / "secret.txt").write_text("a secret")
    hostile_saved_model(root / "hostile", root / "side_effect.txt", root / "secret.txt")
    export_saved_model(tiny_model(), root / "genuine")
    np.save(root / "x.npy", np.ones((2, 4), dtype=np.float32))
    return root


def saved_model_proto(folder):
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((folder / "saved_model.pb").read_bytes())
    return proto


def rewritten(source, target, change):
    """A copy of the SavedModel `source` at `target`, its saved_model.pb changed by `change`."""
    import shutil

    shutil.copytree(source, target)
    proto = saved_model_proto(source)
    change(proto.meta_graphs[0])
    (target / "saved_model.pb").write_bytes(proto.SerializeToString())
    return target


def test_a_hostile_saved_model_is_refused_before_it_runs(files):
    with pytest.raises(UnsupportedModelError, match="ReadFile") as error:
        Predictor.load(files / "hostile")
    assert "WriteFile" in str(error.value) and "StringLength" not in str(error.value)
    assert "tf.saved_model.load if you trust it" in str(error.value)
    assert not (files / "side_effect.txt").exists()


def test_the_command_line_refuses_it_with_one_line(files, capsys):
    assert main(["predict", str(files / "hostile"), str(files / "x.npy")]) == 2
    err = capsys.readouterr().err
    assert "WriteFile" in err and str(files / "hostile") in err, err
    assert "Traceback" not in err and err.count("tfpipeline: error:") == 1
    assert not (files / "side_effect.txt").exists()


def test_a_tflite_file_with_select_tf_ops_is_refused_before_it_runs(files, tmp_path):
    class Hostile(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)])
        def serve(self, x):
            tf.io.write_file(str(tmp_path / "side_effect.txt"), "written by a model")
            return x * 2.0

    module = Hostile()
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.serve.get_concrete_function()], module
    )
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS,
        tf.lite.OpsSet.SELECT_TF_OPS,
    ]
    (tmp_path / "flex.tflite").write_bytes(converter.convert())
    with pytest.raises(UnsupportedModelError, match=r"built-in set \(FlexWriteFile\)"):
        Predictor.load(tmp_path / "flex.tflite")
    assert main(["predict", str(tmp_path / "flex.tflite"), str(files / "x.npy")]) == 2
    assert not (tmp_path / "side_effect.txt").exists()


def test_a_genuine_export_is_accepted_and_predicts(files):
    outputs = Predictor.load(files / "genuine").predict(np.ones((2, 4), dtype=np.float32))
    assert outputs.shape == (2, 3) and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-5)


def test_a_hostile_function_named_like_the_checkpoint_functions_is_refused(files, tmp_path):
    def disguise(meta_graph):  # the nested function takes a checkpoint function's name
        library = meta_graph.graph_def.library.function
        hostile = next(f for f in library if any(n.op == "WriteFile" for n in f.node_def))
        old, new = hostile.signature.name, "__inference__traced_save_1234"
        hostile.signature.name = new
        nodes = [*meta_graph.graph_def.node, *(n for f in library for n in f.node_def)]
        for node in nodes:
            for value in node.attr.values():
                if value.func.name == old:
                    value.func.name = new
        functions = meta_graph.object_graph_def.concrete_functions
        if old in functions:
            functions[new].CopyFrom(functions[old])
            del functions[old]

    folder = rewritten(files / "hostile", tmp_path / "disguised", disguise)
    with pytest.raises(UnsupportedModelError, match="WriteFile"):
        check_saved_model(folder)
    assert not (files / "side_effect.txt").exists()


def called_function(meta_graph, tensor):
    """The library function that the top-level node making `tensor` calls."""
    node = next(n for n in meta_graph.graph_def.node if n.name == tensor.split(":")[0])
    name = node.attr["f"].func.name
    return next(f for f in meta_graph.graph_def.library.function if f.signature.name == name)


def checkpoint_function(meta_graph):
    return called_function(meta_graph, meta_graph.saver_def.save_tensor_name)


def serving_function(meta_graph):
    outputs = meta_graph.signature_def["serving_default"].outputs
    return called_function(meta_graph, next(iter(outputs.values())).name)


def test_checkpoint_ops_pass_only_in_the_saver_functions(files, tmp_path):
    meta_graph = saved_model_proto(files / "genuine").meta_graphs[0]
    assert "SaveV2" in {n.op for n in checkpoint_function(meta_graph).node_def}

    def read_file_in_the_saver(meta_graph):
        checkpoint_function(meta_graph).node_def.add(name="leak", op="ReadFile")

    def save_in_the_serving_code(meta_graph):
        serving_function(meta_graph).node_def.add(name="save", op="SaveV2")

    def serving_code_calls_the_saver(meta_graph):  # its checkpoint ops now run on predict
        call = serving_function(meta_graph).node_def.add(name="call", op="PartitionedCall")
        call.attr["f"].func.name = checkpoint_function(meta_graph).signature.name

    for change, op in [
        (read_file_in_the_saver, "ReadFile"),
        (save_in_the_serving_code, "SaveV2"),
        (serving_code_calls_the_saver, "MergeV2Checkpoints"),
    ]:
        folder = rewritten(files / "genuine", tmp_path / op, change)
        with pytest.raises(UnsupportedModelError, match=op):
            check_saved_model(folder)


def test_unreadable_and_tf1_saved_models_are_refused_by_name(files, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnsupportedModelError, match="no saved_model.pb"):
        check_saved_model(tmp_path / "empty")
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "saved_model.pb").write_bytes(b"\xff not a protobuf" * 10)
    with pytest.raises(UnsupportedModelError, match="not a readable SavedModel"):
        check_saved_model(tmp_path / "garbage")
    folder = rewritten(
        files / "genuine", tmp_path / "tf1", lambda m: m.ClearField("object_graph_def")
    )
    with pytest.raises(UnsupportedModelError, match="TF1 SavedModel"):
        check_saved_model(folder)


def test_verify_loads_no_reference_the_manifest_does_not_vouch_for(files, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    inputs = keras.Input((64,))
    export_tflite(keras.Model(inputs, keras.layers.Dense(10)(inputs)), run / "model_float32.tflite")
    hostile_saved_model(run / "saved_model", tmp_path / "side_effect.txt", files / "secret.txt")
    args = ["verify", str(run / "model_float32.tflite"), "--set", "verify.latency_runs=2"]
    assert main(args) in (0, 1)  # judged on accuracy alone: the untrained model may fail
    captured = capsys.readouterr()
    assert "reference: none" in captured.out + captured.err
    assert not (tmp_path / "side_effect.txt").exists()

    artifacts = [{"path": name, "sha256": sha256_of(run / name)}
                 for name in ("model_float32.tflite", "saved_model")]  # fmt: skip
    (run / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))
    assert main(args) == 2  # a recorded reference is taken, and its ops are checked
    assert "WriteFile" in capsys.readouterr().err
    assert not (tmp_path / "side_effect.txt").exists()


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory):
    """A genuine `.keras` file (with a tfpipeline schedule) and one naming `evil_mod`."""
    from tfpipeline.optimizers import LinearWarmup

    root = tmp_path_factory.mktemp("keras_files")
    inputs = keras.Input((4,))
    normalized = keras.layers.Normalization(mean=0.0, variance=1.0)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(normalized))
    model.compile(keras.optimizers.Adam(LinearWarmup(1e-3, 10)), "categorical_crossentropy")
    model.save(root / "genuine.keras")
    with zipfile.ZipFile(root / "genuine.keras") as source:
        parts = {name: source.read(name) for name in source.namelist()}
    config = json.loads(parts["config.json"])
    dense = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense")
    for name, module in (("evil", "evil_mod"), ("main", "tfpipeline.__main__")):
        dense["module"] = module  # `tfpipeline.__main__` would run the command line
        parts["config.json"] = json.dumps(config).encode()
        with zipfile.ZipFile(root / f"{name}.keras", "w") as target:
            for part, data in parts.items():
                target.writestr(part, data)
    return root


def test_a_keras_file_naming_another_module_is_refused_before_import(
    keras_files, tmp_path, monkeypatch
):
    side_effect = tmp_path / "imported.txt"
    (tmp_path / "evil_mod.py").write_text(
        f"open({str(side_effect)!r}, 'w').write('imported')\nfrom tf_keras.layers import Dense\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "evil_mod", raising=False)
    with pytest.raises(UnsupportedModelError, match="'evil_mod'") as error:
        load_keras_file(keras_files / "evil.keras")
    assert "before anything is imported" in str(error.value)
    assert not side_effect.exists() and "evil_mod" not in sys.modules
    monkeypatch.delitem(sys.modules, "tfpipeline.__main__", raising=False)
    with pytest.raises(UnsupportedModelError, match="'tfpipeline.__main__'"):
        load_keras_file(keras_files / "main.keras")
    assert "tfpipeline.__main__" not in sys.modules


def test_a_genuine_keras_file_loads(keras_files):
    model = load_keras_file(keras_files / "genuine.keras")
    assert model.output_shape == (None, 3)


def test_files_that_are_not_keras_files_are_refused_by_name(keras_files, tmp_path):
    (tmp_path / "text.keras").write_text("not a zip")
    with zipfile.ZipFile(tmp_path / "empty.keras", "w") as archive:
        archive.writestr("metadata.json", "{}")
    with zipfile.ZipFile(tmp_path / "broken.keras", "w") as archive:
        archive.writestr("config.json", "{not json")
    for name, message in [
        ("text.keras", "is not a Keras file"),
        ("empty.keras", "holds no config.json"),
        ("broken.keras", "is not readable JSON"),
    ]:
        with pytest.raises(UnsupportedModelError, match=message):
            check_keras_file(tmp_path / name)
    (tmp_path / "model.h5").write_bytes(b"")
    with pytest.raises(UnsupportedModelError, match="from `.keras` files only"):
        load_keras_file(tmp_path / "model.h5")


def test_a_model_with_two_inputs_is_refused_naming_them(tmp_path):
    from tfpipeline import TfpipelineError

    a, b = keras.Input((2,), name="a"), keras.Input((2,), name="b")
    outputs = keras.layers.Dense(3)(keras.layers.Concatenate()([a, b]))
    converter = tf.lite.TFLiteConverter.from_keras_model(keras.Model([a, b], outputs))
    path = tmp_path / "two.tflite"  # made outside tfpipeline, whose exporters refuse it
    path.write_bytes(converter.convert())
    names = r"\(serving_default_[ab]:0, serving_default_[ab]:0\)"
    with pytest.raises(TfpipelineError, match=rf"has 2 inputs {names}.*one input tensor"):
        Predictor.load(path)


def test_records_beside_a_model_that_do_not_fit_it_are_refused_or_not_taken(tmp_path):
    """A manifest or model card is untrusted: each record is read only for its own file,
    and one that cannot be right is refused by name, never with a raw Python error."""
    import hashlib
    import shutil

    from tfpipeline.errors import DataError, TfpipelineError

    source = export_tflite(tiny_model(), tmp_path / "model_float32.tflite")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    x = np.ones((2, 4), dtype=np.float32)

    def folder(name, manifest=None, card=None):
        path = tmp_path / name / "model_float32.tflite"
        path.parent.mkdir()
        shutil.copy(source, path)
        for file, record in (("manifest.json", manifest), ("model_card.json", card)):
            if record is not None:
                (path.parent / file).write_text(json.dumps(record))
        return path

    def artifact(**fields):
        return {"path": "model_float32.tflite", "format": "tflite", "variant": "float32", **fields}

    # the digest as upper-case hex is the same digest
    Predictor.load(folder("upper", {"artifacts": [artifact(sha256=digest.upper())]}))
    # a second record of the same file cannot leave it unchecked
    twice = {"artifacts": [artifact(), artifact(sha256="0" * 64)]}
    with pytest.raises(TfpipelineError, match="records 'model_float32.tflite' more than once"):
        Predictor.load(folder("twice", twice))
    # an input record that cannot be this model's
    for name, record, message in [
        ("huge", {"kind": "features", "value_range": [0, 10**400]}, "input record .* malformed"),
        ("image", {"kind": "image"}, "says it takes images, but the model takes .*\\(4,\\)"),
    ]:
        data = {"name": "n", "task": "classification", "input": record}
        path = folder(name, {"artifacts": [artifact(sha256=digest)], "data": data})
        with pytest.raises(DataError, match=message):
            Predictor.load(path).predict(x)
    # a card of another file does not describe this one: the manifest's record is used
    narrow = {"kind": "features", "value_range": [0.0, 1e-9]}
    card = {"model": {"file": "another.tflite"}, "input": narrow}
    path = folder("card", {"artifacts": [artifact(sha256=digest)]}, card)
    assert Predictor.load(path).predict(x).shape == (2, 3)
    # a card without a variant leaves the variant to the file's name (not "None")
    from tfpipeline.commands import _recorded_variant

    assert _recorded_variant(folder("novariant", card={"model": {"file": path.name}})) is None
