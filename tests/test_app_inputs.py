"""What apps have, fed to exported models: rows by column name, photos of any size, a card."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from PIL import Image
from tabular_data import write_penguin_like_csv
from test_data import write_images

from tfpipeline import DataError, Pipeline, Predictor, TfpipelineError, load_config, load_data
from tfpipeline.data.images import decode_image

# one worker builds the module's fixtures (see pyproject's --dist loadgroup)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("app_inputs")]

FAST = {
    "train.epochs": 15,
    "compress.prune.epochs": 2,
    "export.onnx": False,
    "export.keras": False,
    "export.android": True,
    "verify.latency_runs": 3,
    "verify.latency_warmup": 0,
}


def run(tmp_path, **overrides):
    config = load_config(overrides={**FAST, **overrides})
    Pipeline(config, log=lambda line: None, verbose=0).run(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def penguins(tmp_path_factory):
    folder = tmp_path_factory.mktemp("penguins")
    path = write_penguin_like_csv(folder / "penguins.csv")
    run_dir = run(
        folder / "run",
        **{"data.source": "csv", "data.path": str(path), "data.label_column": "species"},
    )
    return path, run_dir


def read_rows(path):
    import csv

    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def encode_from_card(card: dict, row: dict) -> list[float]:
    """Builds one input vector from the model card alone, step by step as the Kotlin snippet of
    docs/guide/android.md does: no tfpipeline code."""
    spec = card["input"]
    out = []
    for column in spec["columns"]:
        raw = row.get(column["name"])
        raw = None if raw is None else str(raw).strip()
        missing = raw is None or raw in spec["na_values"]
        if column["kind"] == "numeric":
            if not missing:
                out.append(float(raw))
            elif spec["missing_numeric"] == "impute_median":
                out.append(column["median"])
            else:
                raise ValueError(f"{column['name']} is missing")
            continue
        onehot = [0.0] * (len(column["categories"]) + column["other"])
        if not missing:
            if raw in column["categories"]:
                onehot[column["categories"].index(raw)] = 1.0
            elif column["other"]:
                onehot[-1] = 1.0
        out += onehot
    return out


def run_interpreter(path, vector: list[float], card: dict) -> np.ndarray:
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    tensor_in = interpreter.get_input_details()[0]
    tensor_out = interpreter.get_output_details()[0]
    x = np.asarray([vector], dtype=np.float32)
    quantization = card["input"]["quantization"]
    if quantization:  # an int8 input: q = round(v / scale) + zero_point
        q = np.round(x / quantization["scale"]) + quantization["zero_point"]
        x = np.clip(q, -128, 127).astype(np.int8)
    interpreter.set_tensor(tensor_in["index"], x)
    interpreter.invoke()
    y = interpreter.get_tensor(tensor_out["index"])[0]
    out_q = card["output"]["quantization"]
    return (y.astype(np.float32) - out_q["zero_point"]) * out_q["scale"] if out_q else y


def test_an_app_builds_the_input_from_the_model_card_alone(penguins):
    csv_path, run_dir = penguins
    bundle = run_dir / "android"
    card = json.loads((bundle / "model_card.json").read_text())
    assert card["input"]["kind"] == "features" and card["input"]["dtype"] == "float32"
    assert card["input"]["int8_input"]["float_layers"] == ["normalization"]
    names = [f["name"] for f in card["input"]["features"]]
    assert names[:3] == ["island=Biscoe", "island=Dream", "island=Torgersen"]
    assert card["input"]["dropped_columns"][0]["name"] == "id"
    rows = [r for r in read_rows(csv_path) if "NA" not in (r["bill_length_mm"], r["body_mass_g"])]
    rows = rows[:40]
    rows[0]["island"] = "Atlantis"  # never seen: all zeros for island
    predictor = Predictor.load(bundle / "model.tflite")
    expected = predictor.predict(rows)
    by_card = np.array(
        [run_interpreter(bundle / "model.tflite", encode_from_card(card, r), card) for r in rows]
    )
    np.testing.assert_allclose(by_card, expected, atol=1e-6)
    labels = (bundle / "labels.txt").read_text().split()
    predicted = [labels[i] for i in by_card.argmax(1)]
    accuracy = np.mean([p == r["species"] for p, r in zip(predicted, rows, strict=True)])
    assert accuracy >= 0.9


def test_predictor_takes_rows_as_dataframes_dicts_and_lists(penguins):
    pd = pytest.importorskip("pandas")
    csv_path, run_dir = penguins
    frame = pd.read_csv(csv_path).dropna(subset=["bill_length_mm", "body_mass_g"]).head(12)
    frame["note"] = "an extra column, ignored"
    for path in (run_dir / "model_int8.tflite", run_dir / "model_float32.tflite"):
        predictor = Predictor.load(path)  # the run folder's manifest records the columns
        from_frame = predictor.predict(frame)
        records = frame.to_dict("records")
        np.testing.assert_allclose(predictor.predict(records), from_frame, atol=1e-6)
        np.testing.assert_allclose(predictor.predict(records[3]), from_frame[3:4], atol=1e-6)
        columns = {k: list(v) for k, v in frame.items()}
        np.testing.assert_allclose(predictor.predict(columns), from_frame, atol=1e-6)
        assert np.mean(np.array(predictor.predict_classes(frame)) == frame["species"]) >= 0.9
    with pytest.raises(DataError, match="lack column\\(s\\) 'bill_depth_mm'"):
        predictor.predict(frame.drop(columns=["bill_depth_mm"]))
    with pytest.raises(DataError, match="Column 'body_mass_g' is missing in row 0"):
        predictor.predict({**records[0], "body_mass_g": "NA"})


def test_tfpipeline_predict_reads_a_csv_with_a_header_by_column_name(penguins, tmp_path):
    csv_path, run_dir = penguins
    lines = csv_path.read_text().splitlines()
    rows = [lines[0]] + [line for line in lines[1:30] if ",NA," not in line][:5]
    (tmp_path / "new.csv").write_text("\n".join(rows) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "tfpipeline", "predict", str(run_dir / "android" / "model.tflite"),
         str(tmp_path / "new.csv"), "--top", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    predicted = [line.split()[1] for line in result.stdout.splitlines()]
    truth = [row.split(",")[1] for row in rows[1:]]
    assert len(predicted) == 5 and np.mean(np.array(predicted) == np.array(truth)) >= 0.8


@pytest.fixture(scope="module")
def pets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pets")
    root = write_images(folder / "pets", per_class=12, size=(12, 10))
    run_dir = run(
        folder / "run",
        **{"data.source": "image_dir", "data.path": str(root), "data.image_size": [8, 8]},
        **{"model.kind": "cnn", "model.filters": [4], "model.hidden_units": [8]},
        **{"verify.int8_min_agreement": 0.5},
    )
    return root, run_dir


def test_image_models_take_files_pil_images_and_pixels_of_any_size(pets, tmp_path):
    root, run_dir = pets
    card = json.loads((run_dir / "android" / "model_card.json").read_text())
    assert card["input"]["kind"] == "image" and card["input"]["height"] == 8
    assert "bilinear" in card["input"]["resize"] and card["input"]["value_range"] == [0.0, 255.0]
    predictor = Predictor.load(run_dir / "android" / "model.tflite")
    photo = Image.fromarray(
        np.random.default_rng(1).integers(0, 255, (37, 51, 4), dtype=np.uint8), "RGBA"
    )
    photo.save(tmp_path / "photo.png")
    photo.convert("L").save(tmp_path / "photo.tif")
    as_training = decode_image((tmp_path / "photo.png").read_bytes(), (8, 8), 3).numpy()
    expected = predictor.predict(as_training[None])
    np.testing.assert_allclose(predictor.predict(tmp_path / "photo.png"), expected, atol=1e-6)
    np.testing.assert_allclose(predictor.predict([photo]), expected, atol=1e-6)
    np.testing.assert_allclose(predictor.predict(np.asarray(photo)), expected, atol=1e-6)
    grey = decode_image((tmp_path / "photo.tif").read_bytes(), (8, 8), 3).numpy()
    np.testing.assert_allclose(predictor.predict(str(tmp_path / "photo.tif")),
                               predictor.predict(grey[None]), atol=1e-6)  # fmt: skip
    with pytest.raises(
        DataError, match="look scaled to \\[0, 1\\].*raw pixel values in \\[0, 255\\]"
    ):
        predictor.predict(as_training[None] / 255.0)
    with pytest.raises(DataError, match="Cannot decode image"):
        (tmp_path / "bad.png").write_bytes(b"nope")
        predictor.predict(tmp_path / "bad.png")


def test_image_folders_count_files_that_are_not_images_and_read_tiff(tmp_path):
    root = write_images(tmp_path / "pets", per_class=10)
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "dog" / "labels.csv").write_text("a,b\n")
    (root / "dog" / "more.txt").write_text("not an image")
    pixels = np.random.default_rng(0).integers(0, 255, (9, 7, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(root / "emu" / "scan.tiff")
    Image.fromarray(pixels[..., 0].astype(np.uint16) * 257).save(root / "emu" / "d.tif")  # 16 bits
    config = load_config(
        overrides={"data.source": "image_dir", "data.path": str(root), "data.image_size": [8, 8]}
    )
    loaded = load_data(config.data)
    assert len(loaded.labels) == 32 and not loaded.notes["unreadable_files"]
    from tfpipeline import prepare_data

    report = prepare_data(config.data).cleaning
    assert report["not_image_files"] == 3
    assert report["not_image_suffixes"] == {".txt": 2, ".csv": 1}
    assert "skipped 3 files that are not images (1 .csv, 2 .txt)" in report["summary"]
    assert any(name.endswith("notes.txt") for name in report["examples"]["not_image_files"])


def test_values_in_the_wrong_units_and_tampered_records_are_refused_by_name(penguins, tmp_path):
    import shutil

    csv_path, run_dir = penguins
    row = {k: v for k, v in read_rows(csv_path)[0].items()}
    predictor = Predictor.load(run_dir / "android" / "model.tflite")
    predictor.predict(row)
    mass = float(row["body_mass_g"]) * 1000  # milligrams, not grams
    with pytest.raises(DataError, match=re.escape(f"body_mass_g = {mass:g} in sample 0, where")):
        predictor.predict({**row, "body_mass_g": mass})
    bundle = tmp_path / "bundle"
    shutil.copytree(run_dir / "android", bundle)
    card = json.loads((bundle / "model_card.json").read_text())
    for tamper, message in [
        (lambda c: c.update(model=[1]), "`model` must be an object"),
        (lambda c: c["model"].update(sha256=7), "a sha256 must be 64 hexadecimal digits"),
        (lambda c: c["input"].update(columns="x"), "input record of model.tflite .* malformed"),
        (lambda c: c["input"]["features"][0].update(min="low"), "each feature needs a numeric"),
    ]:
        changed = json.loads(json.dumps(card))
        tamper(changed)
        (bundle / "model_card.json").write_text(json.dumps(changed))
        with pytest.raises((DataError, TfpipelineError), match=message):
            Predictor.load(bundle / "model.tflite").predict(row)
    (bundle / "model_card.json").write_text(json.dumps(card))
    (bundle / "labels.txt").write_text("Adelie\nGentoo\n")
    with pytest.raises(TfpipelineError, match="lists 2 labels but the model has 3 outputs"):
        Predictor.load(bundle / "model.tflite").predict_classes(row)
    (bundle / "labels.txt").write_bytes("Adélie\n".encode("latin-1"))
    with pytest.raises(TfpipelineError, match="Cannot read .*labels.txt as UTF-8"):
        Predictor.load(bundle / "model.tflite")


def test_predict_reads_csv_files_it_can_and_names_those_it_cannot(penguins, tmp_path, capsys):
    from tfpipeline.cli import main

    _, run_dir = penguins
    model = str(run_dir / "android" / "model.tflite")
    (tmp_path / "latin1.csv").write_bytes("island,sex\nBiscoe,mâle\n".encode("latin-1"))
    assert main(["predict", model, str(tmp_path / "latin1.csv")]) == 2
    assert "latin1.csv, line 2: byte 0x" in capsys.readouterr().err
    assert main(["predict", model, str(tmp_path / "latin1.csv"), "--top", "0"]) == 2
    assert "expected a whole number >= 1: '0'" in capsys.readouterr().err


def test_photos_of_every_mode_are_read_as_their_files_are(pets, tmp_path):
    root, run_dir = pets
    predictor = Predictor.load(run_dir / "android" / "model.tflite")
    rgb = Image.fromarray(np.random.default_rng(2).integers(0, 255, (20, 30, 3), dtype=np.uint8))
    for mode, suffix in (("CMYK", "jpg"), ("P", "png"), ("YCbCr", "jpg"), ("LA", "png")):
        image = rgb.convert(mode)
        image.save(tmp_path / f"photo.{suffix}")
        from_file = predictor.predict(tmp_path / f"photo.{suffix}")
        reopened = Image.open(tmp_path / f"photo.{suffix}")
        np.testing.assert_allclose(predictor.predict([reopened]), from_file, atol=1e-6)
    deep = np.asarray(rgb.convert("L"), dtype=np.uint16) * 257  # 16 bits per pixel
    Image.fromarray(deep).save(tmp_path / "deep.png")
    from_file = predictor.predict(tmp_path / "deep.png")
    np.testing.assert_allclose(predictor.predict(deep), from_file, atol=1e-5)
    np.testing.assert_allclose(
        predictor.predict([Image.open(tmp_path / "deep.png")]), from_file, atol=1e-5
    )
    with pytest.raises(DataError, match="at least one"):
        predictor.predict(np.zeros((0, 0, 3), np.uint8))


def test_a_decompression_bomb_is_refused_from_its_header(pets, tmp_path):
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    def png(side: int) -> bytes:
        header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)  # side x side RGB
        body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")

    _, run_dir = pets
    (tmp_path / "bomb.png").write_bytes(png(40000))  # a few hundred bytes; 4.8 GB decoded
    (tmp_path / "large.png").write_bytes(png(8000))  # under Pillow's limit, over ours
    predictor = Predictor.load(run_dir / "android" / "model.tflite")
    with pytest.raises(DataError, match="Pillow's decompression-bomb limit"):
        predictor.predict(tmp_path / "bomb.png")
    with pytest.raises(DataError, match="is 8000x8000 = 64 megapixels, over data.max_image"):
        predictor.predict(tmp_path / "large.png")
