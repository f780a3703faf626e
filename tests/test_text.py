"""Text classification: the tokenizer, text CSV files and folders, the text models, and one
text run from a CSV file to a verified int8 `.tflite` that an app can feed from its model
card alone."""

from __future__ import annotations

import csv
import json
import random
import re
import subprocess
import sys
import unicodedata

import numpy as np
import pandas as pd
import pytest

import tfpipeline as tp
from tfpipeline.tokenizer import PAD_ID, UNKNOWN_ID, Tokenizer, fit_tokenizer, words

# one worker builds the module's fixtures (see pyproject's --dist loadgroup)
pytestmark = pytest.mark.xdist_group("text")

TOPICS = {
    "food": [
        "recipe",
        "cook",
        "bake",
        "sauce",
        "flavor",
        "dinner",
        "kitchen",
        "salt",
        "pepper",
        "oven",
        "fresh",
        "taste",
    ],
    "sport": [
        "match",
        "goal",
        "team",
        "player",
        "score",
        "coach",
        "league",
        "season",
        "win",
        "referee",
        "stadium",
        "ball",
    ],
    "tech": [
        "computer",
        "software",
        "phone",
        "chip",
        "network",
        "code",
        "data",
        "cloud",
        "battery",
        "screen",
        "app",
    ],
}
COMMON = [
    "the",
    "a",
    "and",
    "of",
    "to",
    "in",
    "is",
    "it",
    "was",
    "very",
    "really",
    "this",
    "that",
    "with",
    "for",
    "on",
]
TINY_TEXT = {
    "model.kind": "text",
    "model.hidden_units": [16],
    "model.text.vocab_size": 64,
    "model.text.sequence_length": 12,
    "model.text.embedding_dim": 12,
    "model.text.units": 12,
    "model.filters": [12],
    "train.epochs": 6,
    "train.batch_size": 16,
    "train.learning_rate": 0.02,
    "compress.prune.enabled": False,
    "verify.latency_runs": 5,
    "verify.latency_warmup": 1,
}


def sentences(per_class: int, seed: int = 0) -> list[tuple[str, str]]:
    """Short sentences whose topic words name their class, mixed with common words."""
    rng = random.Random(seed)
    rows = []
    for label, topic in TOPICS.items():
        for _ in range(per_class):
            ws = [rng.choice(topic) if rng.random() < 0.5 else rng.choice(COMMON) for _ in range(8)]
            rows.append((" ".join(ws).capitalize() + rng.choice(".!?"), label))
    rng.shuffle(rows)
    return rows


def write_csv(path, rows, header=("id", "text", "label")):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for i, (text, label) in enumerate(rows):
            writer.writerow([i, text, label])
    return path


def text_config(path, **overrides):
    settings = {"data.source": "csv", "data.path": str(path), "data.text_column": "text"}
    return tp.load_config(overrides={**TINY_TEXT, **settings, **overrides})


# --- the tokenizer -----------------------------------------------------------------------


def test_words_follow_the_documented_rules():
    assert words("Don't STOP!  Café_au-lait 42x") == [
        "don",
        "t",
        "stop",
        "café",
        "au",
        "lait",
        "42x",
    ]
    assert words("ﬁne ① ＡＢ") == ["fine", "1", "ab"]  # NFKC: ligature, circled digit, full width
    assert words("नमस्ते दुनिया") == ["नमस्ते", "दुनिया"]  # vowel signs (marks) stay in the word
    assert words("MiXeD", lowercase=False) == ["MiXeD"]
    assert words(" ... ") == []
    for char in map(chr, range(128)):  # the ASCII fast path keeps to the general rule
        expected = ["a", "b"] if unicodedata.category(char)[0] not in "LMN" else [f"a{char}b"]
        assert words(f"a{char}b", lowercase=False) == expected, repr(char)


def test_the_vocabulary_is_ranked_by_count_then_alphabetically_and_capped():
    tokenizer = fit_tokenizer(["b a c a", "c a d"], vocab_size=4, sequence_length=3)
    assert tokenizer.vocabulary == ("[PAD]", "[UNK]", "a", "c")  # a 3x, c 2x; b, d left out
    ids = tokenizer.encode(["a b", "d c a a a", ""])
    assert ids.dtype == np.int32
    assert ids.tolist() == [[2, UNKNOWN_ID, PAD_ID], [UNKNOWN_ID, 3, 2], [0, 0, 0]]


def test_a_vocabulary_file_reads_back_to_the_same_tokenizer(tmp_path):
    tokenizer = fit_tokenizer(["Ölçü birimi", "the unit"], vocab_size=100, sequence_length=5)
    path = tokenizer.write_vocabulary(tmp_path / "vocab.txt")
    again = Tokenizer.read(path, 5)
    assert again == tokenizer
    assert again.encode(["ölçü THE"]).tolist() == tokenizer.encode(["ölçü THE"]).tolist()
    (tmp_path / "bad.txt").write_text("hello\n[PAD]\n", "utf-8")
    with pytest.raises(tp.DataError, match=r"must start with \[PAD\] and \[UNK\]"):
        Tokenizer.read(tmp_path / "bad.txt", 5)
    with pytest.raises(tp.DataError, match="takes strings; item 1 is int"):
        tokenizer.encode(["fine", 3])
    with pytest.raises(
        ValueError,
        match="`vocab_size` must be an integer >= 3. Received: vocab_size=1",
    ):
        fit_tokenizer(["a b"], vocab_size=1, sequence_length=4)
    with pytest.raises(ValueError, match="`sequence_length` must be an integer >= 1"):
        fit_tokenizer(["a b"], vocab_size=10, sequence_length=-2)
    with pytest.raises(TypeError, match="a sequence of texts, not one string"):
        fit_tokenizer("hello world", vocab_size=10, sequence_length=4)


# --- loading and settings -------------------------------------------------------------


def test_a_text_csv_drops_empty_texts_and_copies_and_fits_the_tokenizer_on_training_only(
    tmp_path,
):
    rows = [(f"{text} tag{i}", label) for i, (text, label) in enumerate(sentences(20))]
    rows += [("   ", "food"), ("?!", "sport"), ("NA", "tech"), (rows[0][0], rows[0][1])]
    path = write_csv(tmp_path / "t.csv", rows)
    config = text_config(path, **{"model.text.vocab_size": 1000})
    data = tp.prepare_data(config.data, text=config.model.text)
    cleaning = data.cleaning
    assert cleaning["non_finite_rows"] == 3 and cleaning["non_finite_kind"] == "empty text"
    assert "dropped 3 empty text" in cleaning["summary"] and cleaning["duplicate_rows"] == 1
    assert data.feature_shape == (12,) and data.normalization == "none"
    train_words = {w for t in data.texts("train") for w in words(t)}
    held_out = {w for s in ("val", "test") for t in data.texts(s) for w in words(t)}
    assert held_out - train_words  # each row's own tag: words training never saw
    assert set(data.tokenizer.vocabulary[2:]) == train_words
    x_test = data.splits.test.arrays()[0]
    np.testing.assert_array_equal(x_test, data.tokenizer.encode(data.texts("test")))


def test_a_text_folder_reads_utf16_and_windows_1252_files_and_names_the_others(tmp_path):
    for label, topic in TOPICS.items():
        (tmp_path / label).mkdir()
        for i in range(6):
            (tmp_path / label / f"{i}.txt").write_text(" ".join(topic[i : i + 4]), "utf-8")
    (tmp_path / "food" / "utf16.txt").write_bytes("crème brûlée".encode("utf-16"))
    (tmp_path / "food" / "latin.txt").write_bytes("crème fraîche".encode("cp1252"))
    (tmp_path / "food" / "nobom.txt").write_bytes("salt and pepper".encode("utf-16-le"))
    (tmp_path / "food" / "notes.md").write_text("not a sample", "utf-8")
    config = tp.load_config(
        overrides={**TINY_TEXT, "data.source": "text_dir", "data.path": str(tmp_path)}
    )
    with pytest.warns(UserWarning, match=r"skipped 1 file\(s\) that are not \.txt \(1 \.md\)"):
        loaded = tp.load_data(config.data)
    texts = dict(zip(loaded.samples.names, loaded.samples.texts, strict=True))
    assert texts[str(tmp_path / "food" / "utf16.txt")] == "crème brûlée"
    assert texts[str(tmp_path / "food" / "latin.txt")] == "crème fraîche"
    assert texts[str(tmp_path / "food" / "nobom.txt")] == "salt and pepper"
    assert loaded.notes["encodings"] == (
        "texts not in UTF-8 read as utf-16 (1), utf-16-le (no byte-order mark) (1), "
        "windows-1252 (1)"
    )
    assert sorted(set(loaded.labels)) == ["food", "sport", "tech"] and loaded.size == 21
    (tmp_path / "all").symlink_to(tmp_path)  # a class folder that holds every text again
    with pytest.raises(tp.DataError, match="all leads back to .*, the data folder"):
        tp.load_data(config.data)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"data.source": "image_dir", "data.text_column": "text"}, "needs `data.source: csv`"),
        ({"model.kind": "mlp"}, "go together, but the data are texts"),
        ({"data.text_column": None}, "go together, but the data are not texts"),
        ({"data.task": "regression"}, "Text data is for classification"),
        ({"data.clean.non_finite": "impute_median"}, "no numbers to impute"),
        ({"model.text.architecture": "gru"}, "bag, cnn, lstm, transformer"),
        (
            {"model.text.architecture": "lstm", "model.text.sequence_length": 1024},
            "must be <= 512 for `model.text.architecture: lstm`",
        ),
    ],
)
def test_text_settings_that_do_not_fit_are_refused(tmp_path, overrides, message):
    base = {"data.source": "csv", "data.path": "t.csv", "data.text_column": "text"}
    with pytest.raises(tp.ConfigError, match=re.escape(message)):
        tp.load_config(overrides={**TINY_TEXT, **base, **overrides})


def test_a_missing_text_column_is_named(tmp_path):
    config = text_config(
        write_csv(tmp_path / "t.csv", sentences(3)), **{"data.text_column": "body"}
    )
    with pytest.raises(tp.DataError, match=r"Column 'body' \(`data.text_column`\) not found"):
        tp.prepare_data(config.data, text=config.model.text)


# --- one text run, end to end -------------------------------------------------------------


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    """A text CSV -> bag model -> pruning -> float32/int8/ONNX -> gate -> Android bundle."""
    folder = tmp_path_factory.mktemp("text")
    config = text_config(
        write_csv(folder / "texts.csv", sentences(40)),
        **{
            "compress.prune.enabled": True,
            "compress.prune.epochs": 2,
            "export.tflite": ["float32", "float16", "dynamic", "int8"],
            "export.android": True,
        },
    )
    pipeline = tp.Pipeline(config, log=lambda line: None, verbose=0)
    manifest = pipeline.run(folder / "run")
    return folder / "run", manifest, config


def test_a_text_csv_runs_to_a_verified_int8_model_and_a_bundle_with_its_vocabulary(text_run):
    run, manifest, _ = text_run
    assert manifest["status"] == "passed", manifest["failures"]
    int8 = next(a for a in manifest["artifacts"] if a["path"] == "model_int8.tflite")
    assert int8["test_accuracy"] >= 0.8 and int8["top1_agreement"] >= 0.95, int8
    baseline = manifest["evaluation"]["baseline"]
    assert baseline["kind"] == "TF-IDF + logistic regression" and baseline["accuracy"] > 0.8
    assert "embedding" in manifest["compression"]["sparsity"]  # the embedding was pruned
    assert (run / "vocab.txt").read_bytes() == (run / "android" / "vocab.txt").read_bytes()
    card = json.loads((run / "android" / "model_card.json").read_text("utf-8"))
    assert card["input"]["kind"] == "text" and card["input"]["dtype"] == "int32"
    assert card["input"]["quantization"] is None  # ids, not quantized reals
    assert card["input"]["int8_input"]["dtype"] == manifest["int8_input"]["dtype"] == "int32"
    assert "TF-IDF + logistic regression" in (run / "report.md").read_text("utf-8")


def test_the_model_card_alone_suffices_to_classify_a_sentence_in_litert(text_run):
    """An app's way: the card's rules and vocab.txt, written here again from their words
    (not the package's tokenizer), then the int8 file in the LiteRT interpreter."""
    from ai_edge_litert.interpreter import Interpreter

    run, _, _ = text_run
    bundle = run / "android"
    card = json.loads((bundle / "model_card.json").read_text("utf-8"))["input"]
    vocab = (bundle / card["vocab_file"]).read_text("utf-8").split("\n")[:-1]
    index = {word: i for i, word in enumerate(vocab)}
    sentence = "The COACH, the referee and the team: a goal!"
    tokens = re.findall(r"[^\W_]+", sentence.lower() if card["lowercase"] else sentence)
    ids = [index.get(t, card["unknown_id"]) for t in tokens][: card["sequence_length"]]
    ids += [card["pad_id"]] * (card["sequence_length"] - len(ids))

    interpreter = Interpreter(model_path=str(bundle / "model.tflite"))
    interpreter.allocate_tensors()
    given = interpreter.get_input_details()[0]
    interpreter.set_tensor(given["index"], np.array([ids], dtype=given["dtype"]))
    interpreter.invoke()
    out = interpreter.get_output_details()[0]
    scale, zero = out["quantization"]
    by_hand = (interpreter.get_tensor(out["index"]).astype(np.float32) - zero) * scale

    predictor = tp.Predictor.load(bundle / "model.tflite")
    np.testing.assert_allclose(predictor.predict(sentence), by_hand, atol=1e-6)
    labels = (bundle / "labels.txt").read_text("utf-8").split()
    assert labels[int(by_hand.argmax())] == "sport"
    assert predictor.predict_classes(["bake the sauce in the oven", "the phone chip"]) == [
        "food",
        "tech",
    ]


def test_every_export_takes_the_same_ids_and_strings_as_training(text_run):
    run, _, config = text_run
    data = tp.prepare_data(config.data, text=config.model.text)  # the same split and tokenizer
    texts = list(data.texts("test")[:10])
    expected = None
    for name in ("model_float32.tflite", "model.onnx", "saved_model"):
        predictor = tp.Predictor.load(run / name)
        assert predictor.input_dtype == np.int32
        np.testing.assert_array_equal(
            predictor.input_spec.tokenizer.encode(texts), data.tokenizer.encode(texts)
        )
        outputs = predictor.predict(texts)
        expected = outputs if expected is None else expected
        np.testing.assert_allclose(outputs, expected, atol=1e-5)
        np.testing.assert_allclose(predictor.predict(data.tokenizer.encode(texts)), outputs)
    with pytest.raises(tp.DataError, match="outside the vocabulary"):
        predictor.predict(np.full((1, 12), 10_000))
    with pytest.raises(tp.DataError, match="must be whole token ids"):
        predictor.predict(np.full((1, 12), 0.5))
    assert np.isfinite(predictor.predict("")).all()  # no word at all: padding only
    series = pd.Series(texts)  # as an app reads a column
    np.testing.assert_allclose(predictor.predict(series), expected, atol=1e-5)
    with pytest.raises(tp.DataError, match="item 1 is NoneType"):
        predictor.predict(["a goal", None])


def test_a_text_model_without_its_vocabulary_is_refused_by_name(text_run, tmp_path):
    run, _, _ = text_run
    alone = tmp_path / "model.tflite"
    alone.write_bytes((run / "model_int8.tflite").read_bytes())
    predictor = tp.Predictor.load(alone)
    with pytest.raises(tp.DataError, match="must be numeric"):  # no record: it takes ids only
        predictor.predict("a goal")
    card = json.loads((run / "android" / "model_card.json").read_text("utf-8"))
    card["model"]["file"] = "model.tflite"
    (tmp_path / "model_card.json").write_text(json.dumps(card), "utf-8")
    with pytest.raises(tp.DataError, match=r"needs its vocabulary vocab.txt beside it"):
        tp.Predictor.load(alone, check_manifest=False).predict("a goal")
    card["input"]["sequence_length"] = 10**9
    (tmp_path / "model_card.json").write_text(json.dumps(card), "utf-8")
    (tmp_path / "vocab.txt").write_bytes((run / "vocab.txt").read_bytes())
    with pytest.raises(tp.DataError, match="does not belong to this model"):
        tp.Predictor.load(alone, check_manifest=False).predict("a goal")
    card["input"]["sequence_length"] = 12
    (tmp_path / "model_card.json").write_text(json.dumps(card), "utf-8")
    with open(tmp_path / "vocab.txt", "a", encoding="utf-8") as vocab:
        vocab.write("extra\n")  # edited by hand: one word more than the model knows
    with pytest.raises(tp.DataError, match=r"vocab.txt holds \d+ words, but the model"):
        tp.Predictor.load(alone, check_manifest=False).predict("a goal")


def test_the_command_line_classifies_a_text_and_a_text_file(text_run, tmp_path):
    from tfpipeline.commands import config_for_model, predict_command

    run, _, _ = text_run
    model = run / "android" / "model.tflite"
    done = subprocess.run(
        [sys.executable, "-m", "tfpipeline", "predict", str(model), "the team won", "--top", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("0: sport "), done.stdout
    (tmp_path / "note.txt").write_text("bake the fresh sauce", "utf-8")
    lines = []
    predict_command(model, str(tmp_path / "note.txt"), 1, lines.append)
    assert lines[0].startswith("0: food "), lines
    with pytest.raises(tp.DataError, match="Text file not found"):
        predict_command(model, str(tmp_path / "gone.txt"), 1, lines.append)
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "model.tflite").write_bytes(model.read_bytes())
    with pytest.raises(tp.DataError, match="it is a text model, but no model card"):
        predict_command(bare / "model.tflite", "the team won", 1, lines.append)
    # verify and benchmark judge a bundle's model on its run's data, found above the bundle
    assert config_for_model(model, None, [], None).data.text_column == "text"
    (bare / "model_card.json").write_bytes((run / "android" / "model_card.json").read_bytes())
    with pytest.raises(tp.ConfigError, match="is a text model and no run config"):
        config_for_model(bare / "model.tflite", None, [], None)
    (tmp_path / "rows.csv").write_text("text\nhello\n", "utf-8")
    with pytest.raises(tp.DataError, match="a text model takes a text, or a .txt file"):
        predict_command(model, str(tmp_path / "rows.csv"), 1, lines.append)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("architecture", "qat"), [("cnn", False), ("lstm", True), ("transformer", True)]
)
def test_each_text_architecture_exports_to_int8_and_passes_the_gate(tmp_path, architecture, qat):
    config = text_config(
        write_csv(tmp_path / "texts.csv", sentences(30)),
        **{
            "model.text.architecture": architecture,
            "model.text.bidirectional": True,
            "compress.qat.enabled": qat,
            "compress.qat.epochs": 1,
            "export.tflite": ["int8"],
            "export.saved_model": False,
            "export.onnx": False,
        },
    )
    manifest = tp.Pipeline(config, log=lambda line: None, verbose=0).run(tmp_path / "run")
    assert manifest["status"] == "passed", manifest["failures"]
    (int8,) = manifest["artifacts"]
    assert int8["test_accuracy"] >= 0.7 and int8["top1_agreement"] >= 0.95, int8
    if qat:  # only the Dense layers trained quantization-aware
        (step,) = manifest["compression"]["steps"]
        assert step["technique"] == "qat" and "embedding" in step["left_alone"], step
        assert not any("dense" in name for name in step["left_alone"]), step
        report = (tmp_path / "run" / "report.md").read_text("utf-8")
        assert "left as they are (TensorFlow Model Optimization does not wrap them" in report
    ops = {op["op"] for op in tp.tflite_ops(tmp_path / "run" / "model_int8.tflite")}
    assert not any(op.startswith("Flex") for op in ops) and "GATHER" in ops, ops


@pytest.mark.slow
@pytest.mark.parametrize(
    ("architecture", "failure"),
    [
        ("bag", "model_int16x8.tflite: not converted: int16x8 variant: the LiteRT converter"),
        ("transformer", "model_int16x8.tflite does not run in its runtime: the runtime ended"),
    ],
)
def test_a_variant_that_cannot_be_made_or_run_fails_alone(tmp_path, architecture, failure):
    """int16x8 of a bag does not convert (its int32 ids get no calibrated range) and LiteRT
    aborts on the transformer's: the run names it and fails; the other files stay."""
    config = text_config(
        write_csv(tmp_path / "texts.csv", sentences(30)),
        **{
            "model.text.architecture": architecture,
            "compress.prune.enabled": False,
            "export.tflite": ["float32", "int16x8"],
            "export.saved_model": False,
            "export.onnx": False,
        },
    )
    with pytest.raises(tp.VerificationError, match="int16x8"):
        tp.Pipeline(config, log=lambda line: None, verbose=0).run(tmp_path / "run")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text("utf-8"))
    (failed,) = manifest["failures"]
    assert failed.startswith(failure), failed
    assert (tmp_path / "run" / "model_float32.tflite").is_file()
    assert not (tmp_path / "run" / "model_int16x8.tflite").exists()
