"""Data stage: load, clean, split, normalize statistics, augment and feed through tf.data."""

from tfpipeline.data.arrays import from_arrays
from tfpipeline.data.augment import make_augmenter
from tfpipeline.data.base import FeatureSamples, LoadedData, Samples
from tfpipeline.data.clean import CleaningReport, clean
from tfpipeline.data.labels import encode_labels
from tfpipeline.data.prepare import PreparedData, prepare_data
from tfpipeline.data.sources import load_data
from tfpipeline.data.split import SplitData, Splits, split_indices
from tfpipeline.data.stats import FeatureStats, feature_statistics
from tfpipeline.data.tfdata import make_dataset

__all__ = [
    "CleaningReport",
    "FeatureSamples",
    "FeatureStats",
    "LoadedData",
    "PreparedData",
    "Samples",
    "SplitData",
    "Splits",
    "clean",
    "encode_labels",
    "feature_statistics",
    "from_arrays",
    "load_data",
    "make_augmenter",
    "make_dataset",
    "prepare_data",
    "split_indices",
]
