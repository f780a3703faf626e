"""The data stage on real files written by the tests: CSV, image folders, TFRecords."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfpipeline import (
    ConfigError,
    DataError,
    load_config,
    load_data,
    make_dataset,
    prepare_data,
)


def data_config(**keys):
    return load_config(overrides={f"data.{k}": v for k, v in keys.items()}).data


# --- built-in data sets and arrays -------------------------------------------------------


def test_digits_is_the_real_bundled_data_set():
    loaded = load_data(load_config().data)
    x = np.stack(loaded.samples.columns, axis=1)  # a table of 64 named pixel columns
    assert x.shape == (1797, 64) and loaded.samples.names[:2] == ("pixel_0_0", "pixel_0_1")
    assert x.min() == 0 and x.max() == 16
    assert sorted(set(loaded.labels.tolist())) == list(range(10))


@pytest.mark.parametrize(
    ("name", "features", "classes"),
    [
        ("iris", 4, ("setosa", "versicolor", "virginica")),
        ("wine", 13, ("class_0", "class_1", "class_2")),
        ("breast_cancer", 30, ("benign", "malignant")),
    ],
)
def test_other_builtin_data_sets(name, features, classes):
    data = prepare_data(data_config(name=name))
    assert data.feature_shape == (features,)
    assert data.class_names == classes
    assert sum(data.splits.sizes().values()) == data.cleaning["rows_out"]


def test_digits_as_images():
    data = prepare_data(data_config(as_images=True))
    assert data.feature_shape == (8, 8, 1) and data.is_image and data.value_range == 16
    assert data.normalization == "scale"
    assert data.splits.x_train.shape[1:] == (8, 8, 1)


def test_arrays_with_string_labels_are_indexed_in_sorted_order():
    x = np.random.default_rng(0).normal(size=(60, 3)).astype(np.float32)
    y = np.array(["zebra", "ant", "moose"] * 20)
    data = prepare_data(data_config(source="arrays"), x, y)
    assert data.class_names == ("ant", "moose", "zebra")
    train = data.splits.train
    np.testing.assert_array_equal(np.array(data.class_names)[train.y], y[train.indices])


def test_numeric_labels_sort_as_numbers():
    x = np.arange(40, dtype=np.float32)[:, None]
    data = prepare_data(data_config(source="arrays"), x, np.array([10, 2] * 20))
    assert data.class_names == ("2", "10")


def test_a_pandas_dataframe_is_a_table_and_its_text_columns_are_categories():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": np.arange(30.0) % 7, "b": np.arange(30.0) * 2})
    data = prepare_data(data_config(source="arrays"), frame, [0, 1, 2] * 10)
    assert data.feature_shape == (2,) and data.feature_names == ("a", "b")
    frame["c"] = ["x", "y", None] * 10
    data = prepare_data(data_config(source="arrays"), frame, [0, 1, 2] * 10)
    assert data.feature_names == ("a", "b", "c=x", "c=y")
    with pytest.raises(DataError, match="Array features must be numeric.*DataFrame"):
        load_data(data_config(source="arrays"), np.array([["x", "1"]] * 4), [0, 1] * 2)


def test_arrays_need_the_arrays_source():
    with pytest.raises(ConfigError, match="set `data.source: arrays`"):
        load_data(data_config(), np.zeros((3, 2)), [0, 1, 0])
    with pytest.raises(ConfigError, match="needs the arrays"):
        load_data(data_config(source="arrays"))
    with pytest.raises(DataError, match="3 feature rows and 2 labels"):
        load_data(data_config(source="arrays"), np.zeros((3, 2)), [0, 1])


# --- CSV ---------------------------------------------------------------------------------


def write_csv(path, rows, header="a,b,label"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def csv_rows(n=30):
    return [f"{i},{i * 2 % 7},{['cat', 'dog', 'owl'][i % 3]}" for i in range(n)]


def test_csv_cleaning_counts_every_action(tmp_path):
    rows = csv_rows()
    rows[4] = "nan,1,cat"  # non-finite
    rows[5] = "inf,1,dog"  # non-finite
    rows[7] = rows[6]  # duplicate of row 6
    rows[8] = "8,1,"  # missing label
    path = write_csv(tmp_path / "pets.csv", rows)
    data = prepare_data(data_config(source="csv", path=str(path)))
    report = data.cleaning
    assert (report["rows_in"], report["rows_out"]) == (30, 26)
    assert report["non_finite_rows"] == 2 and report["examples"]["non_finite_rows"] == [4, 5]
    assert report["duplicate_rows"] == 1 and report["examples"]["duplicate_rows"] == [7]
    assert report["bad_label_rows"] == 1 and report["examples"]["bad_label_rows"] == [8]
    assert data.class_names == ("cat", "dog", "owl")
    assert data.name == "pets"


def test_csv_feature_columns_and_label_column(tmp_path):
    rows = [f"{i % 7},{i * 3 % 11},{i % 2},x" for i in range(20)]
    path = write_csv(tmp_path / "t.csv", rows, "a,b,y,note")
    data = prepare_data(
        data_config(source="csv", path=str(path), label_column="y", feature_columns=["b", "a"])
    )
    assert data.feature_shape == (2,)
    assert data.class_names == ("0", "1")


@pytest.mark.parametrize(
    ("content", "keys", "expected"),
    [
        ("a,b,label\n1,2,x\n3,4\n", {}, "line 3: 2 fields where the header has 3"),
        ("a,b,kind\n1,2,x\n", {}, "Label column 'label' not found .* Columns: a, b, kind"),
        ("a,,label\n1,2,x\n", {}, "column 2 has no name in the header row"),
        ("a,b,a,label\n1,2,3,x\n", {}, "column name 'a' appears twice .columns 1 and 3"),
        ("a,b,label\n1,2,x\n", {"feature_columns": ["a", "label"]}, "also listed in"),
        ("", {}, "is empty"),
        ("a,b,label\n", {}, "has a header but no data rows"),
        ("a,b,label\n1,2,x\n", {"feature_columns": ["z"]}, r"Feature column\(s\) z not found"),
    ],
)
def test_bad_csv_files_are_named(tmp_path, content, keys, expected):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=expected):
        load_data(data_config(source="csv", path=str(path), **keys))


def test_missing_paths_are_named(tmp_path):
    with pytest.raises(DataError, match="CSV file not found: .*nope.csv"):
        load_data(data_config(source="csv", path=str(tmp_path / "nope.csv")))
    with pytest.raises(DataError, match="CSV file is a folder, not a file"):
        load_data(data_config(source="csv", path=str(tmp_path)))
    with pytest.raises(DataError, match="Image folder not found"):
        load_data(data_config(source="image_dir", path=str(tmp_path / "none")))
    with pytest.raises(DataError, match="No TFRecord files found"):
        load_data(
            data_config(
                source="tfrecord", path=str(tmp_path / "*.tfrecord"), features=[{"name": "x"}]
            )
        )
    with pytest.raises(ConfigError, match="`data.path` is required"):
        load_config(overrides={"data.source": "csv"})


def test_strict_labels_and_accepted_classes(tmp_path):
    rows = csv_rows()
    rows[3] = "3,3,eel"
    path = write_csv(tmp_path / "p.csv", rows)
    data = prepare_data(data_config(source="csv", path=str(path), classes=["cat", "dog", "owl"]))
    assert data.cleaning["bad_label_rows"] == 1 and data.class_names == ("cat", "dog", "owl")
    with pytest.raises(DataError, match="row 3: 'eel'.*strict"):
        prepare_data(
            data_config(
                source="csv", path=str(path), classes=["cat", "dog", "owl"], clean={"strict": True}
            )
        )


def test_impute_median_uses_the_training_split_only(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2)).astype(np.float32)
    x[:, 0] += 100  # a large offset so that medians of different rows differ clearly
    x[::10, 1] = np.nan
    y = np.arange(200) % 2
    config = data_config(source="arrays", clean={"non_finite": "impute_median"})
    data = prepare_data(config, x, y)
    assert (
        data.cleaning["non_finite_rows"] == 20 and data.cleaning["non_finite_action"] == "imputed"
    )
    train_median = np.nanmedian(x[data.splits.train.indices, 1])
    for split in (data.splits.train, data.splits.val, data.splits.test):
        features, _ = split.arrays()
        holes = np.isnan(x[split.indices, 1])
        np.testing.assert_allclose(features[holes, 1], train_median)
    assert np.isfinite(data.splits.x_test).all()


def test_one_class_data_is_refused():
    with pytest.raises(DataError, match="single class"):
        prepare_data(data_config(source="arrays"), np.arange(20.0)[:, None], [1] * 20)


def test_constant_features_are_reported_with_a_warning():
    x = np.random.default_rng(0).normal(size=(60, 3)).astype(np.float32)
    x[:, 2] = 7
    with pytest.warns(UserWarning, match="1 feature column.*: 2"):
        data = prepare_data(data_config(source="arrays"), x, np.arange(60) % 2)
    assert data.cleaning["constant_features"] == ["2"]


def test_balanced_class_weights():
    x = np.arange(100, dtype=np.float32)[:, None]
    y = np.array([0] * 80 + [1] * 20)
    data = prepare_data(data_config(source="arrays", class_weight="balanced"), x, y)
    counts = np.bincount(data.splits.train.y)
    expected = len(data.splits.train) / (2 * counts)
    assert data.class_weight == pytest.approx({0: expected[0], 1: expected[1]})
    assert data.class_weight[1] > 3 * data.class_weight[0]


# --- image folders -----------------------------------------------------------------------


def write_images(root, per_class=10, size=(12, 10)):
    """Writes a folder of real PNG, JPEG, BMP and GIF files in three classes."""
    rng = np.random.default_rng(0)
    formats = [("png", "L"), ("jpg", "RGB"), ("bmp", "RGB"), ("gif", "P"), ("png", "RGBA")]
    for c, name in enumerate(["cat", "dog", "emu"]):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.full((*size, 3), 40 * c, dtype=np.uint8) + rng.integers(
                0, 30, (*size, 3), dtype=np.uint8
            )
            suffix, mode = formats[i % len(formats)]
            Image.fromarray(pixels).convert(mode).save(root / name / f"{i}.{suffix}")
    return root


def test_image_folder_is_decoded_resized_and_labelled_from_folder_names(tmp_path):
    root = write_images(tmp_path / "pets")
    (root / "cat" / "notes.txt").write_text("not an image, ignored")
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG not really")
    (root / "emu" / "empty.jpg").write_bytes(b"")
    (root / "loose.png").write_bytes((root / "cat" / "0.png").read_bytes())  # no class folder
    config = data_config(source="image_dir", path=str(root), image_size=[8, 8], channels=3)
    with pytest.warns(UserWarning, match="left out 1 image file.*outside any class.*loose.png"):
        data = prepare_data(config)
    assert data.class_names == ("cat", "dog", "emu")
    assert data.feature_shape == (8, 8, 3) and data.is_image and data.value_range == 255
    report = data.cleaning
    assert report["unreadable_files"] == 2 and report["rows_in"] == 30
    assert sorted(p.rsplit("/", 1)[-1] for p in report["examples"]["unreadable_files"]) == [
        "broken.png",
        "empty.jpg",
    ]
    x, y = data.splits.train.arrays()
    assert x.shape[1:] == (8, 8, 3) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 255
    # Class c was drawn around 40 * c: the decoded pixels must say so.
    for c in range(3):
        assert abs(x[y == c].mean() - (40 * c + 15)) < 8


def test_images_convert_to_one_channel(tmp_path):
    root = write_images(tmp_path / "pets")
    data = prepare_data(
        data_config(source="image_dir", path=str(root), channels=1, image_size=[6, 7])
    )
    assert data.splits.x_test.shape[1:] == (6, 7, 1)


def test_an_image_folder_needs_two_classes(tmp_path):
    root = write_images(tmp_path / "pets", per_class=2)
    for name in ("dog", "emu"):
        for file in (root / name).iterdir():
            file.unlink()
        (root / name).rmdir()
    with pytest.raises(DataError, match="at least two class sub-folders.*found 1: cat"):
        load_data(data_config(source="image_dir", path=str(root)))


@pytest.mark.parametrize("link", ["cat/again", "all"])
def test_a_folder_linking_back_to_the_data_folder_is_refused(tmp_path, link):
    root = write_images(tmp_path / "pets", per_class=2)
    (root / link).symlink_to(root, target_is_directory=True)
    with pytest.raises(DataError, match=f"pets/{link} leads back to .*pets, the data folder"):
        load_data(data_config(source="image_dir", path=str(root)))


def test_an_image_over_the_pixel_limit_is_skipped_before_decoding_and_named(tmp_path):
    root = write_images(tmp_path / "pets", per_class=5)
    Image.new("L", (300, 200)).save(root / "dog" / "large.png")
    config = data_config(source="image_dir", path=str(root), max_image_pixels=59_999)
    with pytest.warns(UserWarning, match="large.png is 300x200 = 0.1 megapixels, over data.max"):
        loaded = load_data(config)
    assert len(loaded.labels) == 15
    assert any("large.png" in str(f) for f in loaded.notes["unreadable_files"])
    assert len(load_data(data_config(source="image_dir", path=str(root))).labels) == 16


def test_duplicate_image_files_are_dropped(tmp_path):
    root = write_images(tmp_path / "pets")
    (root / "cat" / "copy.png").write_bytes((root / "cat" / "0.png").read_bytes())
    data = prepare_data(data_config(source="image_dir", path=str(root), image_size=[8, 8]))
    assert data.cleaning["duplicate_rows"] == 1


# --- TFRecord ----------------------------------------------------------------------------


def write_records(path, rows, label_kind="bytes"):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for values, count, label in rows:
            label_feature = (
                tf.train.Feature(bytes_list=tf.train.BytesList(value=[label.encode()]))
                if label_kind == "bytes"
                else tf.train.Feature(int64_list=tf.train.Int64List(value=[label]))
            )
            example = tf.train.Example(
                features=tf.train.Features(
                    feature={
                        "values": tf.train.Feature(float_list=tf.train.FloatList(value=values)),
                        "count": tf.train.Feature(int64_list=tf.train.Int64List(value=[count])),
                        "label": label_feature,
                    }
                )
            )
            writer.write(example.SerializeToString())


RECORD_SPEC = [
    {"name": "values", "dtype": "float32", "shape": [3]},
    {"name": "count", "dtype": "int64", "shape": []},
]


def record_rows(start, n):
    return [([i, i + 0.5, -i], i * 10, "odd" if i % 2 else "even") for i in range(start, start + n)]


def test_tfrecords_are_read_from_a_glob_and_parsed_with_the_spec(tmp_path):
    write_records(tmp_path / "a.tfrecord", record_rows(0, 20))
    rows = record_rows(20, 20)
    rows[3] = ([float("nan"), 0, 0], 1, "odd")
    rows[4] = rows[5]
    write_records(tmp_path / "b.tfrecord", rows)
    config = data_config(source="tfrecord", path=str(tmp_path / "*.tfrecord"), features=RECORD_SPEC)
    data = prepare_data(config)
    assert data.class_names == ("even", "odd") and data.feature_shape == (4,)
    assert data.cleaning["non_finite_rows"] == 1 and data.cleaning["duplicate_rows"] == 1
    assert sum(data.splits.sizes().values()) == 38
    x, y = data.splits.train.arrays()
    # Each record's features are values + [count]: count is 10 * values[0].
    np.testing.assert_allclose(x[:, 3], 10 * x[:, 0])
    np.testing.assert_array_equal(y, (x[:, 0] % 2 == 1).astype(int))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            [{"name": "pixels", "dtype": "float32", "shape": [3]}],
            "'pixels' is not in the records. Features found: count, label, values",
        ),
        (
            [{"name": "count", "dtype": "float32", "shape": []}],
            "'count' is a int64_list, but the spec says dtype float32",
        ),
        ([{"name": "values", "dtype": "float32", "shape": [4]}], "do not match the feature spec"),
    ],
)
def test_tfrecords_that_do_not_match_the_spec_are_named(tmp_path, spec, expected):
    write_records(tmp_path / "a.tfrecord", record_rows(0, 10))
    config = data_config(source="tfrecord", path=str(tmp_path / "a.tfrecord"), features=spec)
    with pytest.raises(DataError, match=expected):
        load_data(config)


@pytest.mark.parametrize("keep", [-7, 5])
def test_a_tfrecord_file_cut_short_is_refused_by_file_and_record(tmp_path, keep):
    write_records(tmp_path / "nine.tfrecord", record_rows(0, 9))
    write_records(tmp_path / "ten.tfrecord", record_rows(0, 10))
    nine, ten = ((tmp_path / f"{n}.tfrecord").read_bytes() for n in ("nine", "ten"))
    # 5 bytes of the last record's header (TensorFlow alone reads 9 records and stops), or
    # all of the last record but its final 7 bytes.
    (tmp_path / "cut.tfrecord").write_bytes(nine + ten[len(nine) :][:keep])
    path, size = str(tmp_path / "cut.tfrecord"), (tmp_path / "cut.tfrecord").stat().st_size
    config = data_config(source="tfrecord", path=path, features=RECORD_SPEC)
    expected = f"cut.tfrecord: record 10 .*cut short.*ends at byte {size:,}"
    with pytest.raises(DataError, match=expected):
        load_data(config)


def test_a_corrupted_tfrecord_file_and_a_non_utf8_label_are_named(tmp_path):
    write_records(tmp_path / "a.tfrecord", record_rows(0, 10))
    data = bytearray((tmp_path / "a.tfrecord").read_bytes())
    data[len(data) // 2 + 30] ^= 0xFF  # inside a record's data: its checksum no longer fits
    (tmp_path / "a.tfrecord").write_bytes(bytes(data))
    config = data_config(source="tfrecord", path=str(tmp_path / "a.tfrecord"), features=RECORD_SPEC)
    with pytest.raises(DataError, match="TFRecord file .*a.tfrecord is corrupted"):
        load_data(config)
    with tf.io.TFRecordWriter(str(tmp_path / "b.tfrecord")) as writer:
        for i, label in enumerate([b"dog", b"caf\xe9"] * 5):
            feature = {
                "values": tf.train.Feature(float_list=tf.train.FloatList(value=[i, 0, 1])),
                "count": tf.train.Feature(int64_list=tf.train.Int64List(value=[i])),
                "label": tf.train.Feature(bytes_list=tf.train.BytesList(value=[label])),
            }
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())
    config = data_config(source="tfrecord", path=str(tmp_path / "b.tfrecord"), features=RECORD_SPEC)
    with pytest.raises(DataError, match="b.tfrecord, record 2: label feature 'label'.*not UTF-8"):
        load_data(config)


def test_a_fixed_test_set_from_a_second_file(tmp_path):
    write_records(tmp_path / "train.tfrecord", record_rows(0, 40))
    write_records(tmp_path / "test.tfrecord", record_rows(100, 10))
    config = data_config(
        source="tfrecord",
        path=str(tmp_path / "train.tfrecord"),
        test_path=str(tmp_path / "test.tfrecord"),
        features=RECORD_SPEC,
    )
    data = prepare_data(config)
    assert data.splits.sizes() == {"train": 35, "val": 5, "test": 10}
    assert data.splits.x_test[:, 0].min() >= 100


def test_an_empty_test_split_is_refused(tmp_path):
    write_records(tmp_path / "train.tfrecord", record_rows(0, 40))
    write_records(tmp_path / "test.tfrecord", [([0, 0, 0], 0, "platypus")])
    config = data_config(
        source="tfrecord",
        path=str(tmp_path / "train.tfrecord"),
        test_path=str(tmp_path / "test.tfrecord"),
        features=RECORD_SPEC,
    )
    with pytest.raises(
        DataError,
        match="left after cleaning test: 1 rows.*1 with a missing or unknown label",
    ):
        prepare_data(config)


# --- the tf.data chain and augmentation --------------------------------------------------


def test_dataset_shuffles_only_for_training_and_keeps_every_sample():
    x = np.arange(100, dtype=np.float32)[:, None]
    y = np.arange(100) % 3
    train = make_dataset((x, y), batch_size=16, training=True, seed=3)
    evaluation = make_dataset((x, y), batch_size=16, training=False)
    train_rows = np.concatenate([b[0].numpy()[:, 0] for b in train])
    eval_rows = np.concatenate([b[0].numpy()[:, 0] for b in evaluation])
    np.testing.assert_array_equal(eval_rows, x[:, 0])
    assert sorted(train_rows.tolist()) == x[:, 0].tolist()
    assert not np.array_equal(train_rows, x[:, 0])
    assert [len(b[1]) for b in evaluation] == [16] * 6 + [4]


def test_file_data_can_be_cached_on_disk(tmp_path):
    root = write_images(tmp_path / "pets")
    cache = tmp_path / "cache" / "pets"
    cache.parent.mkdir()
    config = data_config(source="image_dir", path=str(root), image_size=[8, 8], cache=str(cache))
    data = prepare_data(config)
    first = np.concatenate([b[0].numpy() for b in data.dataset("test", 4)])
    assert sorted(p.name for p in cache.parent.iterdir())[0].startswith("pets.test")
    again = np.concatenate([b[0].numpy() for b in data.dataset("test", 4)])
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, data.splits.test.arrays()[0])


def test_file_data_is_cached_in_memory_when_small_and_streamed_when_not(tmp_path, monkeypatch):
    from tfpipeline.data import prepare

    root = write_images(tmp_path / "pets")
    config = data_config(source="image_dir", path=str(root), image_size=[8, 8])
    assert prepare_data(config).cache == "memory"
    # 24 training images of 8 x 8 x 3 floats take 18 KiB: over a 16 KiB budget, they stream.
    monkeypatch.setattr(prepare, "AUTO_CACHE_BYTES", 16 * 1024)
    assert prepare_data(config).cache == "none"


def test_each_workers_share_of_a_file_split_is_disjoint_and_takes_the_same_steps(tmp_path):
    root = write_images(tmp_path / "pets", per_class=9)
    data = prepare_data(data_config(source="image_dir", path=str(root), image_size=[8, 8]))
    train = data.splits.train
    shares = [train.shard(2, index) for index in range(2)]
    assert not set(shares[0].indices) & set(shares[1].indices)
    assert sorted([*shares[0].indices, *shares[1].indices]) == sorted(train.indices)
    assert abs(len(shares[0]) - len(shares[1])) <= 1
    rows = [{row.tobytes() for row in share.arrays()[0]} for share in shares]
    steps = len(shares[0]) // 3 + 1  # more than a share's batches of 3: filled with repeats
    for index in range(2):
        chain = data.dataset(
            "train", 3, training=True, epochs=(0, 2), shard=(2, index), batches_per_epoch=steps
        )
        batches = [batch[0].numpy() for batch in chain]
        assert len(batches) == 2 * steps  # the same number of steps on every worker
        first_epoch = {row.tobytes() for row in np.concatenate(batches[:steps])}
        assert first_epoch == rows[index]  # all of its own share, nothing of the other's


@pytest.mark.parametrize("cache", ["memory", "none"])
def test_file_data_shuffles_each_epoch_with_a_global_seed_of_zero(tmp_path, cache):
    # `train.seed: 0` seeds TensorFlow with 0, and TensorFlow's own seed check then failed on
    # the per-epoch seed tensor (cached: the shuffle buffer; streamed: the file list).
    tf.keras.utils.set_random_seed(0)
    root = write_images(tmp_path / "pets")
    config = data_config(source="image_dir", path=str(root), image_size=[8, 8], cache=cache)
    data = prepare_data(config)
    assert data.cache == cache

    def two_epochs():
        chain = data.dataset("train", 4, training=True, epochs=(0, 2))
        return np.concatenate([batch[0].numpy() for batch in chain])

    first = two_epochs()
    np.testing.assert_array_equal(first, two_epochs())  # reproducible
    one, two = np.split(first, 2)
    assert not np.array_equal(one, two)  # a new order each epoch
    assert sorted(r.tobytes() for r in one) == sorted(r.tobytes() for r in two)


AUGMENT = {"flip": "horizontal", "rotation": 0.1, "zoom": 0.2, "brightness": 0.2, "contrast": 0.2}


def _epoch(data, split="train", training=True):
    return np.concatenate([b[0].numpy() for b in data.dataset(split, 64, training=training)])


def test_augmentation_changes_training_images_reproducibly_and_differently_each_epoch():
    config = data_config(as_images=True, augment=AUGMENT)
    data = prepare_data(config)
    plain = prepare_data(data_config(as_images=True))
    first, again = _epoch(data), _epoch(prepare_data(config))
    np.testing.assert_array_equal(first, again)  # reproducible with the seed
    assert not np.allclose(first, _epoch(plain))  # it does change the images
    two_epochs = np.concatenate([b[0].numpy() for b in data.dataset("train", 64, True, (0, 2))])
    one, two = np.split(two_epochs, 2)
    np.testing.assert_array_equal(one, first)
    assert not np.allclose(one, two)  # new order and augmentation every epoch
    assert one.min() >= 0 and one.max() <= 16
    # Epoch 1 alone (as a resumed run builds it) is exactly epoch 1 of the uninterrupted chain.
    resumed = np.concatenate([b[0].numpy() for b in data.dataset("train", 64, True, (1, 2))])
    np.testing.assert_array_equal(resumed, two)


def test_augmentation_never_touches_validation_or_test():
    data = prepare_data(data_config(as_images=True, augment=AUGMENT))
    for split in ("val", "test"):
        np.testing.assert_array_equal(
            _epoch(data, split, training=False), getattr(data.splits, split).arrays()[0]
        )


def test_augmentation_is_not_in_the_model(tmp_path):
    from tfpipeline import build_model

    data = prepare_data(data_config(as_images=True, augment=AUGMENT))
    model = build_model(load_config().model, data)
    assert [type(layer).__name__ for layer in model.layers] == [
        "Rescaling", "Flatten", "Dense", "Dense", "Dense",
    ]  # fmt: skip
    x = data.splits.x_test[:8]
    np.testing.assert_array_equal(model(x, training=True).numpy(), model(x, training=True).numpy())


def test_feature_noise_is_scaled_by_training_std():
    x = np.random.default_rng(0).normal(size=(400, 2)).astype(np.float32) * [1.0, 100.0]
    data = prepare_data(data_config(source="arrays", augment={"noise": 0.1}), x, np.arange(400) % 2)
    x_train = data.splits.x_train
    noise = data.augment(x_train, np.array([3, 0], np.int64)).numpy() - x_train  # all at once
    spread = noise.std(axis=0) / x_train.std(axis=0)
    np.testing.assert_allclose(spread, 0.1, rtol=0.15)  # 0.1 of each feature's own std
    trained_on = np.sort(_epoch(data)[:, 0])  # the chain adds it (in shuffled order)
    assert not np.allclose(trained_on, np.sort(x_train[:, 0]), atol=1e-3)


def test_image_options_on_features_are_refused():
    with pytest.raises(ConfigError, match="`data.augment.flip` applies to images"):
        prepare_data(data_config(augment={"flip": "horizontal"}))
    with pytest.raises(ConfigError, match="`data.augment.noise` applies to feature vectors"):
        prepare_data(data_config(as_images=True, augment={"noise": 0.1}))


def test_a_data_path_may_start_with_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    root = write_images(tmp_path / "pets")
    data = prepare_data(data_config(source="image_dir", path="~/pets", image_size=[8, 8]))
    assert sum(data.splits.sizes().values()) == len(list(root.glob("*/*")))


# --- the samples interface, one contract for every kind ------------------------------------


def _loaded(kind, tmp_path):
    if kind == "arrays":
        x = np.arange(40, dtype=np.float32).reshape(20, 2)
        return load_data(data_config(source="arrays"), x, np.arange(20) % 2)
    if kind == "digits_images":
        return load_data(data_config(source="builtin", name="digits", as_images=True))
    if kind == "image_dir":
        root = write_images(tmp_path / "pets", per_class=4)
        return load_data(data_config(source="image_dir", path=str(root), image_size=[6, 5]))
    write_records(tmp_path / "a.tfrecord", record_rows(0, 12))
    path = str(tmp_path / "a.tfrecord")
    return load_data(data_config(source="tfrecord", path=path, features=RECORD_SPEC))


@pytest.mark.parametrize(
    ("kind", "in_memory"),
    [("arrays", True), ("digits_images", True), ("image_dir", False), ("tfrecord", False)],
)
def test_every_kind_of_samples_keeps_the_samples_contract(kind, in_memory, tmp_path):
    from tfpipeline.data import FeatureSamples

    loaded = _loaded(kind, tmp_path)
    samples = loaded.samples
    assert isinstance(samples, FeatureSamples) and samples.in_memory is in_memory
    assert len(samples.finite_rows()) == len(samples.row_keys()) == loaded.size
    indices = np.arange(1, loaded.size, 3)
    streamed = list(samples.as_dataset(indices).as_numpy_iterator())
    assert [int(i) for i, _ in streamed] == indices.tolist()
    features = samples.gather(indices)
    assert features.dtype == np.float32 and features.shape == (len(indices), *samples.feature_shape)
    np.testing.assert_array_equal(features, np.stack([x for _, x in streamed]))
    np.testing.assert_array_equal(np.concatenate(list(samples.batches(indices, 2))), features)
    assert samples.gather(indices[:0]).shape == (0, *samples.feature_shape)
    assert len(samples.row_names(indices[:2])) == 2


def test_every_configurable_source_has_a_loader_and_no_other():
    from tfpipeline.config import SOURCES
    from tfpipeline.data.sources import SOURCE_LOADERS, get_loader

    assert set(SOURCE_LOADERS) == set(SOURCES)
    with pytest.raises(ConfigError, match="Unknown data source 'parquet'. Accepted: builtin"):
        get_loader("parquet")
