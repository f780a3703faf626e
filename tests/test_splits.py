"""Splits, the calibration samples and the training statistics: which samples go where,
and what the model learns its normalization from."""

import numpy as np
import pytest

from tfpipeline import DataError, feature_statistics, load_config, prepare_data, split_indices
from tfpipeline.config import SplitConfig


def data_config(**keys):
    return load_config(overrides={f"data.{k}": v for k, v in keys.items()}).data


# --- splits ------------------------------------------------------------------------------


def _labels(samples_per_class=(50, 30, 20)):
    return np.concatenate([np.full(n, c) for c, n in enumerate(samples_per_class)])


def test_split_is_disjoint_complete_and_stratified():
    y = _labels()
    train, val, test = split_indices(y, SplitConfig(0.6, 0.2, 0.2), seed=1)
    joined = np.concatenate([train, val, test])
    assert len(joined) == len(set(joined.tolist())) == len(y)
    assert (len(train), len(val), len(test)) == (60, 20, 20)
    for part, fraction in ((train, 0.6), (val, 0.2), (test, 0.2)):
        counts = np.bincount(y[part], minlength=3)
        np.testing.assert_array_equal(counts, np.array([50, 30, 20]) * fraction)


def test_split_is_reproducible_with_a_seed_and_changes_with_another():
    y = _labels()
    first = split_indices(y, SplitConfig(0.6, 0.2, 0.2), seed=7)
    again = split_indices(y, SplitConfig(0.6, 0.2, 0.2), seed=7)
    other = split_indices(y, SplitConfig(0.6, 0.2, 0.2), seed=8)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[2], other[2])


def test_split_without_validation_and_regression_split():
    train, val, test = split_indices(_labels(), SplitConfig(0.8, 0.0, 0.2), seed=0)
    assert (len(train), len(val), len(test)) == (80, 0, 20)
    targets = np.linspace(0, 1, 50)
    train, val, test = split_indices(targets, SplitConfig(), seed=0, stratify=False)
    assert (len(train), len(val), len(test)) == (40, 5, 5)


def test_a_class_too_small_to_stratify_is_named():
    y = _labels((40, 40, 2))
    with pytest.raises(DataError, match="Class 2 has 2 sample"):
        split_indices(y, SplitConfig(0.8, 0.1, 0.1), seed=0)
    with pytest.raises(DataError, match="Class 'cat' has 2 sample"):
        split_indices(y, SplitConfig(0.8, 0.1, 0.1), seed=0, class_names=["a", "b", "cat"])


def test_int8_calibrates_on_the_first_training_samples_only():
    x = np.arange(300, dtype=np.float32).reshape(100, 3)  # every row unique
    splits = prepare_data(data_config(source="arrays"), x, _labels()).splits
    np.testing.assert_array_equal(splits.calibration_samples(7), splits.x_train[:7])
    everything = splits.calibration_samples(10_000)
    np.testing.assert_array_equal(everything, splits.x_train)
    judged = {tuple(row) for row in np.concatenate([splits.x_val, splits.x_test]).tolist()}
    assert judged and not judged & {tuple(row) for row in everything.tolist()}


def test_empty_data_is_refused():
    with pytest.raises(DataError, match="empty"):
        split_indices(np.zeros(0, dtype=int), SplitConfig(), seed=0)


# --- training statistics ------------------------------------------------------------


def test_nearly_constant_features_get_a_floored_variance_and_others_keep_theirs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 4)).astype(np.float32) * [1.0, 1.0, 1.0, 1000.0]
    x[:, 1] = 5.0  # constant
    x[:, 2] = 0.0
    x[7, 2] = 16.0  # one odd value: variance 0.256, range 16
    stats = feature_statistics(x)
    np.testing.assert_allclose(stats.mean, x.mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(stats.variance, x.var(axis=0), rtol=1e-4, atol=1e-6)
    used = stats.normalization_variance()
    assert used[1] == 1.0  # constant: only centred
    assert used[2] == pytest.approx((16 / 20) ** 2)  # floored by its range
    # Ordinary features keep their own variance, whatever their scale.
    np.testing.assert_allclose(used[[0, 3]], x[:, [0, 3]].var(axis=0), rtol=1e-4)
    np.testing.assert_allclose(stats.max_abs, np.abs(x).max(axis=0), rtol=1e-6)


def test_training_statistics_streamed_in_batches_equal_numpys():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 3)) * [1.0, 1000.0, 0.001] + [0.0, 5000.0, -1.0]
    for source in (x, prepare_data(data_config(source="arrays"), x, _labels((25, 25))).splits):
        train = source if isinstance(source, np.ndarray) else source.train
        expected = x if isinstance(source, np.ndarray) else source.x_train
        stats = feature_statistics(train, batch=7)  # 8 batches, the last one short
        np.testing.assert_allclose(stats.mean, expected.mean(axis=0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(stats.variance, expected.var(axis=0), rtol=1e-4)
        np.testing.assert_array_equal(stats.minimum, expected.min(axis=0).astype(np.float32))
        np.testing.assert_array_equal(stats.maximum, expected.max(axis=0).astype(np.float32))
    images = rng.uniform(0, 255, size=(6, 4, 4, 3))
    stats = feature_statistics(images, per_channel=True, batch=4)
    np.testing.assert_allclose(stats.mean, images.mean(axis=(0, 1, 2)), rtol=1e-6)
    np.testing.assert_allclose(stats.variance, images.var(axis=(0, 1, 2)), rtol=1e-4)
    zeros = feature_statistics(np.zeros((4, 2)))
    np.testing.assert_array_equal(zeros.max_abs, np.float32([1e-12, 1e-12]))
    np.testing.assert_array_equal(zeros.normalization_variance(), [1.0, 1.0])
    assert zeros.normalization_variance().dtype == np.float32  # what the layer holds


def test_a_split_of_arrays_streams_its_own_samples_with_their_labels():
    x = np.arange(200, dtype=np.float32).reshape(100, 2)
    splits = prepare_data(data_config(source="arrays"), x, _labels()).splits
    train = splits.train
    streamed = list(train.dataset().as_numpy_iterator())
    np.testing.assert_array_equal(np.stack([f for f, _ in streamed]), splits.x_train)
    np.testing.assert_array_equal([label for _, label in streamed], splits.y_train)
    features, labels = train.arrays(limit=5)
    np.testing.assert_array_equal(features, splits.x_train[:5])
    np.testing.assert_array_equal(labels, splits.y_train[:5])
    assert len(train.arrays(limit=10_000)[0]) == len(train) == splits.sizes()["train"]
    shares = [train.shard(3, index) for index in range(3)]
    assert sorted(np.concatenate([share.indices for share in shares]).tolist()) == sorted(
        train.indices.tolist()
    )
    assert [len(share) for share in shares] == [27, 27, 26]  # 80 samples, near-equal
    np.testing.assert_array_equal(shares[1].arrays()[0], splits.x_train[1::3])
    np.testing.assert_array_equal(shares[1].y, splits.y_train[1::3])
    assert splits.sizes() == {"train": 80, "val": 10, "test": 10}
    np.testing.assert_array_equal(splits.x_val, x[splits.val.indices])
    np.testing.assert_array_equal(splits.y_test, splits.test.y)


def test_an_empty_split_streams_nothing():
    from tfpipeline.data.split import SplitData

    x = np.arange(200, dtype=np.float32).reshape(100, 2)
    samples = prepare_data(data_config(source="arrays"), x, _labels()).splits.train.samples
    empty = SplitData(samples, np.zeros(0, np.int64), np.zeros(0, np.int64))
    assert len(empty) == 0 and list(empty.dataset().as_numpy_iterator()) == []


def test_a_split_of_image_files_is_decoded_into_arrays(tmp_path):
    from PIL import Image

    from tfpipeline.data.split import SplitData

    for label, name in enumerate(["cat", "dog"]):
        (tmp_path / name).mkdir()
        for i in range(10):
            pixels = np.full((4, 4, 3), 100 * label + i, dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.png")
    config = data_config(source="image_dir", path=str(tmp_path), image_size=[4, 4], channels=3)
    train = prepare_data(config).splits.train
    features, labels = train.arrays()
    assert features.shape == (16, 4, 4, 3) and features.dtype == np.float32
    np.testing.assert_array_equal(labels, train.y)
    # each image is one grey level: 100 * its class + its number, so class and pixel agree
    np.testing.assert_array_equal(features[:, 0, 0, 0] >= 100, labels == 1)
    first, first_labels = train.arrays(limit=3)
    np.testing.assert_array_equal(first, features[:3])
    np.testing.assert_array_equal(first_labels, labels[:3])
    empty = SplitData(train.samples, np.zeros(0, np.int64), np.zeros(0, np.int64)).arrays()[0]
    assert empty.shape == (0, 4, 4, 3) and empty.dtype == np.float32


def test_statistics_are_per_feature_unless_asked_per_channel():
    images = np.random.default_rng(2).uniform(0, 255, size=(6, 4, 4, 3))
    assert feature_statistics(images).mean.shape == (48,)
    assert feature_statistics(images, per_channel=True).mean.shape == (3,)


def test_class_counts_are_checked_against_the_parts_really_cut():
    def split(counts, fractions, with_test=True):
        return split_indices(_labels(counts), SplitConfig(*fractions), 0, with_test=with_test)

    split((40, 40, 2), (0.8, 0.0, 0.2))  # two parts: two samples of a class are enough
    split((40, 40, 2), (0.8, 0.1, 0.1), with_test=False)  # the test set comes from elsewhere
    split((40, 40, 3), (0.8, 0.1, 0.1))  # three parts, three samples
    with pytest.raises(DataError, match="Class 2 has 2 sample"):
        split((40, 40, 2), (0.8, 0.1, 0.1))
    train, val, test = split((10, 10, 10), (0.8, 0.1, 0.1))  # 3 test samples for 3 classes
    assert len(test) == 3 and len(val) == 3
    _, val, test = split((9, 9, 9), (0.8, 0.1, 0.1), with_test=False)  # val: 1/9 of 27
    assert len(val) == 3 and len(test) == 0
    with pytest.raises(DataError) as small:
        split((10, 10, 10), (0.9, 0.05, 0.05))
    assert str(small.value) == (
        "The test split (0.05 of 30 samples) is smaller than the number of classes (3), so it "
        "cannot hold every class. Raise `data.split.test` or add data."
    )


def test_statistics_of_streamed_image_files_equal_numpys(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(3)
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        for i in range(10):
            pixels = rng.integers(0, 255, (4, 4, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.png")
    config = data_config(source="image_dir", path=str(tmp_path), image_size=[4, 4], channels=3)
    train = prepare_data(config).splits.train
    images = train.arrays()[0].astype(np.float64)
    stats = feature_statistics(train, per_channel=True, batch=4)
    np.testing.assert_allclose(stats.mean, images.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(stats.variance, images.var(axis=(0, 1, 2)), rtol=1e-4)
    np.testing.assert_array_equal(stats.maximum, images.max(axis=(0, 1, 2)))
