import numpy as np
import pytest

from tfpipeline import DataError, clean, load_config, load_data, make_dataset, split_data
from tfpipeline.config import SplitConfig


def test_digits_is_the_real_bundled_data_set():
    loaded = load_data(load_config().data)
    assert loaded.x.shape == (1797, 64)
    assert loaded.x.dtype == np.float32
    assert loaded.x.min() == 0 and loaded.x.max() == 16
    assert loaded.class_names == tuple(str(i) for i in range(10))
    assert np.bincount(loaded.y).min() >= 170


def test_clean_drops_non_finite_and_duplicate_rows_and_reports_them():
    x = np.array(
        [[1, 2], [np.nan, 0], [3, 4], [1, 2], [np.inf, 1], [1, 2], [5, 6]], dtype=np.float32
    )
    y = np.array([0, 1, 1, 0, 0, 1, 1])
    x_out, y_out, report = clean(x, y)
    # Row 3 repeats row 0 (same features and label); row 5 has row 0's features but another
    # label, so it is not an exact duplicate.
    np.testing.assert_array_equal(x_out, [[1, 2], [3, 4], [1, 2], [5, 6]])
    np.testing.assert_array_equal(y_out, [0, 1, 1, 1])
    assert report.rows_in == 7 and report.rows_out == 4
    assert report.non_finite_rows == 2 and report.non_finite_examples == [1, 4]
    assert report.duplicate_rows == 1 and report.duplicate_examples == [3]
    assert "dropped 2 non-finite and 1 duplicate" in report.summary()


def _indexed_data(samples_per_class=(50, 30, 20)):
    y = np.concatenate([np.full(n, c) for c, n in enumerate(samples_per_class)])
    x = np.arange(len(y), dtype=np.float32)[:, None]  # the feature is the row number
    return x, y


def test_split_is_disjoint_complete_and_stratified():
    x, y = _indexed_data()
    splits = split_data(x, y, SplitConfig(0.6, 0.2, 0.2), seed=1)
    parts = [splits.x_train[:, 0], splits.x_val[:, 0], splits.x_test[:, 0]]
    joined = np.concatenate(parts)
    assert len(joined) == len(set(joined.tolist())) == len(y)
    assert splits.sizes() == {"train": 60, "val": 20, "test": 20}
    for labels, fraction in ((splits.y_train, 0.6), (splits.y_val, 0.2), (splits.y_test, 0.2)):
        counts = np.bincount(labels, minlength=3)
        np.testing.assert_allclose(counts, np.array([50, 30, 20]) * fraction, atol=1)


def test_split_is_reproducible_with_a_seed_and_changes_with_another():
    x, y = _indexed_data()
    first = split_data(x, y, SplitConfig(0.6, 0.2, 0.2), seed=7)
    again = split_data(x, y, SplitConfig(0.6, 0.2, 0.2), seed=7)
    other = split_data(x, y, SplitConfig(0.6, 0.2, 0.2), seed=8)
    np.testing.assert_array_equal(first.x_test, again.x_test)
    np.testing.assert_array_equal(first.x_train, again.x_train)
    assert not np.array_equal(np.sort(first.x_test[:, 0]), np.sort(other.x_test[:, 0]))


def test_split_without_validation():
    x, y = _indexed_data()
    splits = split_data(x, y, SplitConfig(0.8, 0.0, 0.2), seed=0)
    assert splits.sizes() == {"train": 80, "val": 0, "test": 20}


def test_a_class_too_small_to_stratify_is_named():
    x, y = _indexed_data((40, 40, 2))
    with pytest.raises(DataError, match="Class 2 has 2 sample"):
        split_data(x, y, SplitConfig(0.8, 0.1, 0.1), seed=0)
    with pytest.raises(DataError, match="Class 'cat' has 2 sample"):
        split_data(x, y, SplitConfig(0.8, 0.1, 0.1), seed=0, class_names=["a", "b", "cat"])


def test_empty_data_is_refused():
    with pytest.raises(DataError, match="empty"):
        split_data(np.zeros((0, 3)), np.zeros(0, dtype=int), SplitConfig(), seed=0)


def test_dataset_shuffles_only_for_training_and_keeps_every_sample():
    x, y = _indexed_data()
    train = make_dataset(x, y, batch_size=16, training=True, seed=3)
    evaluation = make_dataset(x, y, batch_size=16, training=False)
    train_rows = np.concatenate([b[0].numpy()[:, 0] for b in train])
    eval_rows = np.concatenate([b[0].numpy()[:, 0] for b in evaluation])
    np.testing.assert_array_equal(eval_rows, x[:, 0])
    assert sorted(train_rows.tolist()) == x[:, 0].tolist()
    assert not np.array_equal(train_rows, x[:, 0])
    assert [len(b[1]) for b in evaluation] == [16] * 6 + [4]
