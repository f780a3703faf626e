"""Compression stage: TFMOT pruning, clustering and quantization-aware training.

Each technique is a pair of verbs (`apply_*` hands back the wrapped copy and the callbacks
it needs; `strip_*` removes the wrappers); `compress` runs the configured ones in turn.
"""

from tfpipeline.compress.clustering import apply_clustering, strip_clustering, unique_weights
from tfpipeline.compress.pruning import (
    PruningSchedule,
    apply_pruning,
    kernel_sparsity,
    overall_sparsity,
    strip_pruning,
)
from tfpipeline.compress.qat import apply_qat
from tfpipeline.compress.stage import (
    CompressResult,
    CompressStep,
    PruneResult,
    compress_model,
    prune,
)

__all__ = [
    "CompressResult",
    "CompressStep",
    "PruneResult",
    "PruningSchedule",
    "apply_clustering",
    "apply_pruning",
    "apply_qat",
    "compress_model",
    "kernel_sparsity",
    "overall_sparsity",
    "prune",
    "strip_clustering",
    "strip_pruning",
    "unique_weights",
]
