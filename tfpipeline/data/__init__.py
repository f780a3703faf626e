"""Data stage: load, clean, split and feed through tf.data."""

from tfpipeline.data.clean import CleaningReport, clean
from tfpipeline.data.sources import LoadedData, load_data
from tfpipeline.data.split import Splits, split_data
from tfpipeline.data.tfdata import make_dataset

__all__ = [
    "CleaningReport",
    "LoadedData",
    "Splits",
    "clean",
    "load_data",
    "make_dataset",
    "split_data",
]
