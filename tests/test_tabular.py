"""Tables as users bring them: missing markers, text columns, identifiers, one-hot labels."""

import json
import subprocess
import sys

import numpy as np
import pytest
from tabular_data import write_csv, write_penguin_like_csv

from tfpipeline import DataError, load_config, load_data, prepare_data
from tfpipeline.config import DEFAULT_NA_VALUES
from tfpipeline.data.encoding import OTHER, TableEncoding, fit_encoding
from tfpipeline.data.tabular import table_from_cells


def data_config(**keys):
    return load_config(overrides={f"data.{k}": v for k, v in keys.items()}).data


def csv_config(path, **keys):
    return data_config(source="csv", path=str(path), **keys)


@pytest.mark.parametrize("marker", DEFAULT_NA_VALUES)
def test_every_standard_missing_marker_reads_as_missing(tmp_path, marker):
    rows = [[i % 5, f"{i * 0.5:.1f}", "ab"[i % 2]] for i in range(30)]
    rows[3][1] = f" {marker} "  # spaces around a marker do not matter
    path = write_csv(tmp_path / "m.csv", ["a", "b", "label"], rows)
    data = prepare_data(csv_config(path))
    cleaning = data.cleaning
    assert cleaning["non_finite_rows"] == 1 and cleaning["examples"]["non_finite_rows"] == [3]
    assert data.feature_names == ("a", "b")  # b stays numeric


def test_na_values_changes_the_markers_and_missing_labels_count_as_bad(tmp_path):
    rows = [[i % 5, i % 7 if i != 4 else "-", "ab"[i % 2]] for i in range(30)]
    rows[8][2] = "NA"
    path = write_csv(tmp_path / "m.csv", ["a", "b", "label"], rows)
    with pytest.warns(UserWarning, match="'b' holds numbers and text \\('-' in row 4\\)"):
        data = prepare_data(csv_config(path))
    assert data.feature_names[1:] == tuple(f"b={v}" for v in [0, 1, 2, 3, 4, 5, 6, "-"])
    assert data.cleaning["bad_label_rows"] == 1
    data = prepare_data(csv_config(path, na_values=["-", "NA"]))
    assert data.feature_names == ("a", "b") and data.cleaning["non_finite_rows"] == 1


def test_imputation_uses_training_medians_recorded_in_the_encoding(tmp_path):
    rows = [[i % 5, (i * 7) % 11 if i % 6 else "?", "ab"[i % 2]] for i in range(60)]
    rows[7][1] = "inf"  # imputed too, never trained on
    path = write_csv(tmp_path / "m.csv", ["a", "b", "label"], rows)
    config = csv_config(path, clean={"non_finite": "impute_median"})
    data = prepare_data(config)
    train_b = np.array([r[1] for r in np.array(rows, dtype=object)[data.splits.train.indices]])
    median = np.median([float(v) for v in train_b if v not in ("?", "inf")])
    assert data.encoding.columns[1].median == median and data.encoding.impute
    x = data.splits.train.arrays()[0]
    assert np.all(np.isfinite(x)) and np.sum(x[:, 1] == median) >= np.sum(train_b == "?")


def test_text_columns_are_one_hot_from_the_training_split_only():
    table, _ = table_from_cells(
        ["size", "colour"],
        [[3, 1, 4, 1, 5, 9], ["red", "blue", "red", None, "green", "mauve"]],
    )
    encoding = fit_encoding(table, rows=np.arange(4))  # green and mauve are test-only
    assert encoding.feature_names() == ("size", "colour=blue", "colour=red")
    x = encoding.encode(table.column, len(table))
    np.testing.assert_array_equal(x[:, 1:], [[0, 1], [1, 0], [0, 1], [0, 0], [0, 0], [0, 0]])
    np.testing.assert_array_equal(x[:, 0], [3, 1, 4, 1, 5, 9])


def test_many_categories_keep_the_most_frequent_and_an_other_position():
    values = ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d", "e"]
    table, _ = table_from_cells(["k"], [values])
    encoding = fit_encoding(table, np.arange(len(values)), max_categories=3)
    assert encoding.feature_names() == ("k=a", "k=b", f"k={OTHER}")
    x = encoding.encode(lambda name: ["a", "c", "zebra", None], 4)
    np.testing.assert_array_equal(x, [[1, 0, 0], [0, 0, 1], [0, 0, 1], [0, 0, 0]])


def test_identifier_and_row_number_columns_are_dropped_and_named(tmp_path):
    rows = [[i + 1, f"Name {i}", i % 3, "xy"[i % 2]] for i in range(40)]
    path = write_csv(tmp_path / "people.csv", ["rownames", "name", "a", "label"], rows)
    with pytest.warns(UserWarning, match="left out.*rownames \\(a row number.*name \\(identifier"):
        data = prepare_data(csv_config(path))
    assert data.feature_names == ("a",)
    assert [name for name, _ in data.encoding.dropped] == ["rownames", "name"]


def test_numeric_codes_can_be_categories_and_an_unknown_column_is_named(tmp_path):
    rows = [[i % 3 + 1, i * 0.37 % 5, "xy"[i % 2]] for i in range(30)]
    path = write_csv(tmp_path / "cars.csv", ["origin", "a", "label"], rows)
    data = prepare_data(csv_config(path, categorical={"columns": ["origin"]}))
    assert data.feature_names == ("origin=1", "origin=2", "origin=3", "a")
    with pytest.raises(DataError, match="`data.categorical.columns` names .*: nope"):
        load_data(csv_config(path, categorical={"columns": ["nope"]}))


def test_a_separate_test_file_must_have_the_training_columns(tmp_path):
    rows = [[i * 0.37 % 5, "pq"[i % 2], "ab"[i % 2]] for i in range(30)]
    train = write_csv(tmp_path / "train.csv", ["a", "kind", "label"], rows)
    test = write_csv(tmp_path / "test.csv", ["a", "label"], [[1, "a"], [2, "b"]])
    with pytest.raises(DataError, match="test has no column 'kind'"):
        prepare_data(csv_config(train, test_path=str(test)))


def test_the_encoding_round_trips_through_its_record():
    table, _ = table_from_cells(["n", "t"], [[1.5, 2.5, None], ["u", "v", "u"]])
    encoding = fit_encoding(table, np.arange(3), impute=True)
    back = TableEncoding.from_dict(json.loads(json.dumps(encoding.to_dict())))
    assert back == encoding
    assert back.to_dict()["missing_numeric"] == "impute_median"


def test_one_hot_labels_are_read_as_indices_and_other_label_arrays_are_refused():
    x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[np.arange(40) % 4]
    data = prepare_data(data_config(source="arrays"), x, y)
    assert data.class_names == ("0", "1", "2", "3")
    assert "one-hot labels of 4 classes" in data.cleaning["labels"]
    y[5] = [0.5, 0.5, 0, 0]
    with pytest.raises(DataError, match=r"one-hot rows .* row 5 is not one-hot: \[0.5, 0.5"):
        load_data(data_config(source="arrays"), x, y)


@pytest.mark.slow
def test_a_penguin_like_csv_with_text_and_na_runs_as_it_is(tmp_path):
    path = write_penguin_like_csv(tmp_path / "penguins.csv")
    result = subprocess.run(
        [sys.executable, "-m", "tfpipeline", "run", "--output", str(tmp_path / "run"),
         "--set", f"data.path={path}", "--set", "data.source=csv",
         "--set", "data.label_column=species", "--set", "train.epochs=15",
         "--set", "compress.prune.epochs=2", "--set", "verify.latency_runs=5"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "left out of the model's input: id (identifier-like" in result.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    columns = {c["name"]: c for c in manifest["data"]["input"]["columns"]}
    assert columns["island"]["categories"] == ["Biscoe", "Dream", "Torgersen"]
    assert columns["sex"]["categories"] == ["female", "male"]
    assert manifest["data"]["cleaning"]["non_finite_rows"] == 8  # the unmeasured birds
    int8 = next(a for a in manifest["artifacts"] if a["variant"] == "int8")
    assert int8["top1_agreement"] >= 0.97 and manifest["int8_input"]["dtype"] == "float32"


def test_blank_and_pandas_missing_cells_are_missing_whatever_na_values_says(tmp_path):
    rows = [[i % 5, "" if i % 7 == 3 else f"{i * 0.3:.1f}", "ab"[i % 2]] for i in range(40)]
    path = write_csv(tmp_path / "m.csv", ["a", "b", "label"], rows)
    data = prepare_data(csv_config(path, na_values=["-999"]))
    assert data.feature_names == ("a", "b") and data.cleaning["non_finite_rows"] == 6
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {
            "n": pd.array([1, None, 3, 4] * 10, dtype="Int64"),
            "t": pd.array(["x", None, "y", "x"] * 10, dtype="string"),
            "r": np.arange(40) * 0.37,
        }
    )
    data = prepare_data(data_config(source="arrays"), frame, ["p", "q"] * 20)
    assert data.feature_names == ("n", "t=x", "t=y", "r")  # NA is no category
    assert data.cleaning["non_finite_rows"] == 10  # the Int64 NA cells


def test_a_column_with_no_value_is_left_out_by_name_and_label_only_files_are_refused(tmp_path):
    rows = [["NA", i * 0.37, "ab"[i % 2]] for i in range(30)]
    path = write_csv(tmp_path / "m.csv", ["empty", "a", "label"], rows)
    with pytest.warns(UserWarning, match="empty \\(no value at all\\)"):
        data = prepare_data(csv_config(path))
    assert data.feature_names == ("a",) and data.encoding.dropped[0] == ("empty", "no value at all")
    only = write_csv(tmp_path / "only.csv", ["label"], [["a"], ["b"]])
    with pytest.raises(DataError, match="No feature column holds a value"):
        load_data(csv_config(only))
    with pytest.raises(DataError, match="lists 'a' more than once"):
        load_data(csv_config(path, feature_columns=["a", "a"]))


def test_number_categories_match_however_they_are_written():
    table, _ = table_from_cells(
        ["code"], [["1.0", "2.0", "3.0", "01", " 2 "]], text_columns=["code"]
    )
    encoding = fit_encoding(table, np.arange(5))
    assert encoding.columns[0].categories == ("1", "2", "3")
    x = encoding.encode(lambda name: [1, 2.0, "3", "1.00", np.float32(2)], 5)
    np.testing.assert_array_equal(x.argmax(1), [0, 1, 2, 0, 1])
    assert x.sum() == 5


def test_a_ragged_row_is_named_by_its_line_in_the_file(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text('a,b,label\n1,2,x\n\n"3\n4",5,y\n6,7\n')
    with pytest.raises(DataError, match="line 6: 2 fields where the header has 3"):
        load_data(csv_config(path))


def test_row_numbers_with_a_few_rows_moved_are_still_row_numbers():
    moved = [1, 40, *range(2, 40)]  # R's rownames after one row was moved
    rank = sorted(np.random.default_rng(0).permutation(40) + 1)  # not in file order: kept
    shuffled = list(np.random.default_rng(1).permutation(40) + 1)
    table, _ = table_from_cells(["moved", "shuffled", "x"], [moved, shuffled, rank[::-1]])
    encoding = fit_encoding(table, np.arange(40))
    assert [name for name, _ in encoding.dropped] == ["moved"]
    assert encoding.feature_names() == ("shuffled", "x")


def test_csv_encodings_utf8_with_a_bom_is_read_others_are_named_with_the_fix(tmp_path):
    text = "a,b,label\n" + "".join(f"{i},{i % 7},{'x' if i % 2 else 'y'}\n" for i in range(30))
    (tmp_path / "bom.csv").write_bytes(text.encode("utf-8-sig"))
    loaded = load_data(csv_config(tmp_path / "bom.csv"))
    assert loaded.samples.names == ("a", "b")  # the mark is not part of the first name
    (tmp_path / "latin.csv").write_bytes((text + "1,2,caf\xe9\n").encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.csv, line 32: byte 0xe9 is not UTF-8.*iconv -f"):
        load_data(csv_config(tmp_path / "latin.csv"))
    (tmp_path / "wide.csv").write_bytes(text.encode("utf-16"))
    with pytest.raises(DataError, match=r"wide.csv is UTF-16 text.*iconv -f utf-16 -t utf-8"):
        load_data(csv_config(tmp_path / "wide.csv"))
    (tmp_path / "nomark.csv").write_bytes(text.encode("utf-16-le"))  # no byte-order mark
    with pytest.raises(DataError, match=r"nomark.csv, line 1: holds a NUL byte.*utf-16le"):
        load_data(csv_config(tmp_path / "nomark.csv"))
    (tmp_path / "nul.csv").write_bytes(text.replace("3,3,", "3\0,3,").encode())
    with pytest.raises(DataError, match=r"nul.csv, line 5: holds a NUL byte"):
        load_data(csv_config(tmp_path / "nul.csv"))


def test_a_field_longer_than_the_csv_modules_limit_is_read(tmp_path):
    long = "w" * 200_000  # the csv module refuses fields over 131,072 characters by default
    rows = "".join(f"{i},{long if i == 3 else 'short'},{i % 2}\n" for i in range(30))
    (tmp_path / "long.csv").write_text("a,note,label\n" + rows)
    loaded = load_data(csv_config(tmp_path / "long.csv"))
    assert long in list(loaded.samples.column("note"))


def test_two_spellings_of_one_number_label_are_named_when_they_merge_or_stay_apart(tmp_path):
    rows = "".join(f"{i},{i % 7},{['1', '1.0', '2'][i % 3]}\n" for i in range(30))
    (tmp_path / "numbers.csv").write_text("a,b,label\n" + rows)
    with pytest.warns(UserWarning, match="'1' and '1.0'.*read as the same number"):
        loaded = load_data(csv_config(tmp_path / "numbers.csv"))
    assert set(loaded.labels) == {1.0, 2.0}
    rows = "".join(f"{i},{i % 7},{['1', '1.0', 'cat'][i % 3]}\n" for i in range(30))
    (tmp_path / "mixed.csv").write_text("a,b,label\n" + rows)
    with pytest.warns(UserWarning, match="'1' and '1.0'.*kept as separate classes"):
        loaded = load_data(csv_config(tmp_path / "mixed.csv"))
    assert set(loaded.labels) == {"1", "1.0", "cat"}
