"""The run record: manifests written by tfpipeline 0.1.0 before the record existed read back
exactly, the reports are written from them, and malformed manifests are refused by name."""

import copy
import json
from pathlib import Path

import pytest

from tfpipeline.record import (
    ArtifactRecord,
    CompressionRecord,
    MalformedRecordError,
    RunRecord,
    read_record,
    write_record,
)
from tfpipeline.report import write_report
from tfpipeline.run_folder import RunFolder

DATA = Path(__file__).parent / "data"
RUN_MANIFEST = DATA / "run_manifest_0.1.0.json"  # a pruned digits run, float32 + int8 + ONNX
BUNDLE_MANIFEST = DATA / "chosen_manifest_0.1.0.json"  # a compress-sweep `chosen/` bundle


@pytest.mark.parametrize("path", [RUN_MANIFEST, BUNDLE_MANIFEST], ids=["run", "bundle"])
def test_a_manifest_written_before_the_record_reads_back_key_for_key(path, tmp_path):
    written = json.loads(path.read_text())
    record = read_record(path)
    assert record.to_dict() == written
    assert list(record.to_dict()) == list(written)  # the same keys, in the same order
    for artifact, raw in zip(record.artifacts, written["artifacts"], strict=True):
        assert list(artifact.to_dict()) == list(raw)
    write_record(tmp_path / "manifest.json", record)
    assert json.loads((tmp_path / "manifest.json").read_text()) == written


def test_the_records_fields_hold_what_the_manifest_means():
    written = json.loads(RUN_MANIFEST.read_text())
    record = read_record(str(RUN_MANIFEST))  # a path as text, as the README passes it
    assert not record.is_bundle and record.status == written["status"]
    assert record.keras_test == {"accuracy": written["keras_test_accuracy"]}
    int8 = record.artifact("model_int8.tflite")
    assert int8.variant == "int8" and int8.format == "tflite"
    assert int8.sha256 == written["artifacts"][2]["sha256"]
    assert int8.figure("test_accuracy") == written["artifacts"][2]["test_accuracy"]
    assert int8.compression_ratio == written["artifacts"][2]["compression_ratio"]
    assert record.artifact("model_float16.tflite") is None
    compression = record.compression
    assert isinstance(compression, CompressionRecord)
    assert compression.test_scores == {"accuracy": written["compression"]["test_accuracy"]}
    assert (
        compression.prune["target_sparsity"] == written["config"]["compress"]["prune"]["sparsity"]
    )
    assert record.training.epochs_run == written["training"]["epochs_run"]
    assert record.data.input == written["data"]["input"]
    bundle = read_record(BUNDLE_MANIFEST)
    assert bundle.is_bundle and bundle.source.startswith("compress-sweep variant")
    assert bundle.android.written and bundle.training is None


def test_the_report_is_written_from_a_manifest_of_before(tmp_path):
    record = read_record(RUN_MANIFEST)
    text = write_report(RunFolder(tmp_path), record).read_text()
    assert f"# tfpipeline run `{record.run_name}`" in text
    for artifact in record.artifacts:
        assert f"| {artifact.path} | " in text
    assert f"{record.compression.overall_sparsity:.1%}" in text


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda m: m.update(artifacts={"a": 1}), "`artifacts` must list objects"),
        (lambda m: m["artifacts"].append(7), r"`artifacts\[4\]` must be an object"),
        (lambda m: m["artifacts"][0].update(path=3), r"`artifacts\[0\].path` must be a string"),
        (lambda m: m["artifacts"][1].update(sha256="ab"), r"`artifacts\[1\].sha256` must be 64"),
        (lambda m: m.update(data=[1]), "`data` must be an object"),
        (lambda m: m["data"].pop("task"), "`data` lacks task"),
        (lambda m: m["training"].pop("best_epoch"), "`training` lacks best_epoch"),
        (lambda m: m.update(evaluation="good"), "`evaluation` must be an object"),
        (lambda m: m.update(failures="none"), "`failures` must be a list"),
    ],
)
def test_a_malformed_manifest_is_refused_naming_the_field(tamper, message, tmp_path):
    manifest = json.loads(RUN_MANIFEST.read_text())
    assert len(manifest["artifacts"]) == 4
    tamper(manifest)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    with pytest.raises(MalformedRecordError, match=message) as caught:
        read_record(path)
    assert str(path) in str(caught.value)


def test_fields_a_later_version_adds_are_kept_as_figures_or_ignored():
    manifest = json.loads(RUN_MANIFEST.read_text())
    changed = copy.deepcopy(manifest)
    changed["artifacts"][0]["energy_mj"] = 1.5  # a new measured figure
    changed["a_later_section"] = {"x": 1}
    record = RunRecord.from_dict(changed)
    assert record.artifacts[0].figure("energy_mj") == 1.5
    assert record.to_dict()["artifacts"][0]["energy_mj"] == 1.5
    assert ArtifactRecord.from_dict({"path": "m.tflite"}).figures == {}


def test_a_failed_artifact_keeps_passed_false_and_its_diagnosis():
    raw = json.loads(RUN_MANIFEST.read_text())["artifacts"][2]
    failed = {**raw, "passed": False, "diagnosis": {"fix": "keep it float"}, "removed": True}
    record = ArtifactRecord.from_dict(failed)
    assert not record.passed and record.removed and record.diagnosis == {"fix": "keep it float"}
    assert record.to_dict() == failed
    assert "removed" not in ArtifactRecord.from_dict(raw).to_dict()


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda m: m["artifacts"][0].update(passed="false"), r"`artifacts\[0\].passed` must be"),
        (lambda m: m["artifacts"][0].update(size_bytes="big"), r"size_bytes` must be an integer"),
        (lambda m: m["artifacts"][1].update(sha256="z" * 64), r"sha256` must be 64 hexadecimal"),
        (lambda m: m["artifacts"].append(dict(m["artifacts"][2])), "more than once"),
        (lambda m: m.update(run_name=[1]), "`run_name` must be a string; it is a list"),
        (lambda m: m["training"].update(epochs_run="x"), "`training.epochs_run` must be an int"),
        (lambda m: m["training"].update(stopped_early="no"), "stopped_early` must be true or"),
        (lambda m: m["data"].update(feature_shape=["8"]), "feature_shape` must be a list of int"),
        (lambda m: m["compression"].update(techniques="prune"), "techniques` must be a list"),
        (lambda m: m.update(failures=[1]), "`failures` must be a list of strings"),
    ],
)
def test_a_field_of_the_wrong_type_is_refused_not_converted(tamper, message):
    manifest = json.loads(RUN_MANIFEST.read_text())
    tamper(manifest)
    with pytest.raises(MalformedRecordError, match=message):
        RunRecord.from_dict(manifest)


def test_only_a_regular_file_of_a_sensible_size_is_read(tmp_path):
    import os

    from tfpipeline.errors import TfpipelineError
    from tfpipeline.record import MAX_RECORD_BYTES

    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)  # opening it would wait for a writer forever
    with pytest.raises(TfpipelineError, match="fifo.json: OSError: it is not a regular file"):
        read_record(fifo)
    sparse = tmp_path / "huge.json"
    with open(sparse, "wb") as handle:
        handle.truncate(MAX_RECORD_BYTES + 1)  # sparse: nothing is written, nothing is read
    with pytest.raises(TfpipelineError, match="huge.json: OSError: it is over 64 MiB"):
        read_record(sparse)
