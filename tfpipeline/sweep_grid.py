"""The compression sweep's grid: the recipes it tries, and what each is exported as."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tfpipeline._schema import broken_rule
from tfpipeline.config import TFLITE_VARIANTS
from tfpipeline.config.compress import CLUSTERS
from tfpipeline.config.pruning import SPARSITY
from tfpipeline.errors import ConfigError

# A recipe is the techniques applied in turn, each with its strength:
# (("prune", 0.9), ("cluster", 16), ("qat", None)) is PCQAT at 90% sparsity and 16 clusters.
Recipe = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class SweepGrid:
    """The variants a sweep tries.

    Every pruned and clustered model is exported as each of `tflite`; every
    quantization-aware one as `int8` only (the variant QAT trains for).

    Attributes:
        sparsities: pruning strengths. Defaults to `(0.5, 0.75, 0.85, 0.9)`.
        clusters: weight-clustering strengths (values per kernel). Defaults to `(8, 16)`.
        qat: also train each model above (and the uncompressed one) quantization-aware.
            Defaults to `True`.
        combined: also prune then cluster (then QAT, with `qat`): each sparsity with each
            cluster count. Defaults to `True`.
        tflite: post-training variants of each model without QAT.
            Defaults to `("float16", "dynamic", "int8")`.
    """

    sparsities: Sequence[float] = (0.5, 0.75, 0.85, 0.9)
    clusters: Sequence[int] = (8, 16)
    qat: bool = True
    combined: bool = True
    tflite: Sequence[str] = ("float16", "dynamic", "int8")

    def __post_init__(self):
        # The strengths obey the rules of `compress.prune.sparsity` and `compress.cluster.clusters`.
        for what, values, rule in (
            ("sparsities", self.sparsities, SPARSITY),
            ("cluster counts", self.clusters, CLUSTERS),
        ):
            for value in values:
                broken = broken_rule(value, rule)
                if broken:
                    raise ConfigError(f"Sweep {what} {broken} Received: {value}")
        unknown = [v for v in self.tflite if v not in TFLITE_VARIANTS]
        if unknown:
            raise ConfigError(
                f"Sweep TFLite variants must be among {', '.join(TFLITE_VARIANTS)}. "
                f"Received: {', '.join(unknown)}"
            )

    def recipes(self) -> list[Recipe]:
        """The model variants, each a sequence of techniques (the empty one first)."""
        compressed: list[Recipe] = [(("prune", s),) for s in self.sparsities]
        compressed += [(("cluster", c),) for c in self.clusters]
        if self.combined:
            compressed += [
                (("prune", s), ("cluster", c)) for s in self.sparsities for c in self.clusters
            ]
        recipes: list[Recipe] = [(), *compressed]
        if self.qat:
            recipes += [(*recipe, ("qat", None)) for recipe in [(), *compressed]]
        return recipes

    def exports(self, recipe: Recipe) -> list[str]:
        """The .tflite variants a recipe's model is exported as."""
        if recipe and recipe[-1][0] == "qat":
            return ["int8"]
        return list(self.tflite) if recipe else ["float32", *self.tflite]


def variant_name(recipe: Recipe, variant: str) -> str:
    """A variant's name in tables: `prune 90% + cluster 16 + QAT / int8`."""
    parts = []
    for technique, strength in recipe:
        if technique == "prune":
            parts.append(f"prune {strength:.0%}")
        elif technique == "cluster":
            parts.append(f"cluster {strength}")
        else:
            parts.append("QAT")
    return f"{' + '.join(parts) or 'uncompressed'} / {variant}"


def file_stem(recipe: Recipe) -> str:
    """A recipe's `.tflite` file stem: `prune09_cluster16_qat`."""
    parts = [f"{t}{'' if s is None else s}" for t, s in recipe]
    return "_".join(parts).replace(".", "") or "base"
