"""The `compress` section: pruning, clustering and quantization-aware training, in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from tfpipeline._schema import Check, rule, setting
from tfpipeline.config.pruning import (
    INITIAL_BELOW_SPARSITY,
    INITIAL_SPARSITY,
    M_BY_N,
    SCHEDULE,
    SPARSITY,
)

# Sparsity ramps up over this fraction of the fine-tuning epochs when `end_epoch` is null;
# the rest lets accuracy recover.
RAMP_FRACTION = 0.6


def _epochs_in_order(prune: PruneConfig) -> bool:
    return prune.begin_epoch < prune.ramp_end_epoch() <= prune.epochs


EPOCH_WINDOW = Check(
    _epochs_in_order,
    config_key="Config keys `{prefix}begin_epoch` < `end_epoch` <= `epochs` must hold "
    f"(end_epoch null means {RAMP_FRACTION:.0%} of epochs). Received: "
    "begin_epoch={begin_epoch}, end_epoch={end_epoch}, epochs={epochs}",
)

CENTROID_INITS = ("kmeans_plus_plus", "linear", "density_based", "random")
# Shared with the arguments of `apply_clustering`; the config also caps `clusters`.
CLUSTERS = rule(low=2)
CENTROID_INIT = rule(choices=CENTROID_INITS)


@dataclass(frozen=True)
class PruneConfig:
    """TFMOT magnitude pruning, fine-tuned from the trained model.

    Attributes:
        enabled: prune at all. Defaults to `True`.
        sparsity: final fraction of zero weights in each pruned kernel. Defaults to `0.75`.
        initial_sparsity: where the `polynomial` schedule starts. Defaults to `0.0`.
        begin_epoch: fine-tuning epoch (may be fractional) at which pruning starts.
            Defaults to `0.0`.
        end_epoch: fine-tuning epoch at which `sparsity` is reached; `null` means 60% of
            `epochs`, leaving the rest to recover accuracy. Defaults to `null`.
        schedule: `polynomial` (TFMOT's `PolynomialDecay`: sparsity rises over the first
            60% of fine-tuning) or `constant` (`ConstantSparsity`). Defaults to
            `"polynomial"`.
        sparsity_m_by_n: `[m, n]` for structured sparsity, m zeros in every n consecutive
            weights (`[2, 4]`: the 2:4 pattern); overrides `sparsity`. Defaults to `null`.
        xnnpack: prune only what XNNPACK's sparse inference speeds up (1x1 convolutions of
            a network with a 3x3 stride-2 stem). Defaults to `False`.
        skip_layers: layer names or types (`Conv2D`) left dense. Defaults to `[]`.
        epochs: fine-tuning epochs. Defaults to `20`.
        learning_rate: fine-tuning learning rate; `null` means half of
            `train.learning_rate`. Defaults to `null`.
    """

    enabled: bool = True
    sparsity: float = setting(0.75, SPARSITY)
    initial_sparsity: float = setting(0.0, INITIAL_SPARSITY)
    begin_epoch: float = setting(0.0, low=0.0)
    end_epoch: float | None = setting(None, low=0.0, low_open=True)
    schedule: str = setting("polynomial", SCHEDULE)
    sparsity_m_by_n: list[int] | None = setting(None, low=1)
    xnnpack: bool = False
    skip_layers: list[str] = setting([])
    epochs: int = setting(20, low=1, high=100_000)
    learning_rate: float | None = setting(None, low=0.0, high=10.0, low_open=True)

    checks: ClassVar[tuple[Check, ...]] = (INITIAL_BELOW_SPARSITY, EPOCH_WINDOW, M_BY_N)

    def ramp_end_epoch(self) -> float:
        """The fine-tuning epoch at which `sparsity` is reached: `end_epoch`, or by default
        `RAMP_FRACTION` of `epochs`."""
        return self.end_epoch or self.epochs * RAMP_FRACTION


@dataclass(frozen=True)
class ClusterConfig:
    """TFMOT weight clustering, fine-tuned from the model before it.

    Attributes:
        enabled: cluster at all. Defaults to `False`.
        clusters: distinct values per kernel. Defaults to `16`.
        init: centroid initialization: `kmeans_plus_plus`, `linear`, `density_based` or
            `random`. Defaults to `"kmeans_plus_plus"`.
        skip_layers: layer names or types left unclustered. Defaults to `[]`.
        epochs: fine-tuning epochs. Defaults to `4`.
        learning_rate: fine-tuning learning rate; `null` means a tenth of
            `train.learning_rate`. Defaults to `null`.
    """

    enabled: bool = False
    clusters: int = setting(16, CLUSTERS, high=65_536)
    init: str = setting("kmeans_plus_plus", CENTROID_INIT)
    skip_layers: list[str] = setting([])
    epochs: int = setting(4, low=1, high=100_000)
    learning_rate: float | None = setting(None, low=0.0, high=10.0, low_open=True)


@dataclass(frozen=True)
class QatConfig:
    """TFMOT quantization-aware training (8-bit), fine-tuned from the model before it.

    After pruning it preserves the zeros (PQAT), after clustering the clusters (CQAT), after
    both, both (PCQAT). Export the result as `int8` TFLite.

    Attributes:
        enabled: train quantization-aware at all. Defaults to `False`.
        skip_layers: layer names or types left float. Defaults to `[]`.
        epochs: fine-tuning epochs. Defaults to `4`.
        learning_rate: fine-tuning learning rate; `null` means a tenth of
            `train.learning_rate`. Defaults to `null`.
    """

    enabled: bool = False
    skip_layers: list[str] = setting([])
    epochs: int = setting(4, low=1, high=100_000)
    learning_rate: float | None = setting(None, low=0.0, high=10.0, low_open=True)


COMPRESS_TECHNIQUES = ("prune", "cluster", "qat")

# Each technique keeps what the ones before it did only in this order (TFMOT's collaborative
# optimization): pruning's zeros survive clustering and QAT, clusters survive QAT.
ACCEPTED_ORDERS = (
    ("prune",),
    ("cluster",),
    ("qat",),
    ("prune", "cluster"),
    ("prune", "qat"),
    ("cluster", "qat"),
    ("prune", "cluster", "qat"),
)


@dataclass(frozen=True)
class CompressConfig:
    """Compression techniques applied to the trained model, each fine-tuned in turn.

    Attributes:
        order: the order the enabled techniques run in. Defaults to
            `[prune, cluster, qat]`.
        prune: magnitude pruning.
        cluster: weight clustering.
        qat: quantization-aware training.
    """

    order: list[str] = setting(list(COMPRESS_TECHNIQUES), choices=COMPRESS_TECHNIQUES)
    prune: PruneConfig = field(default_factory=PruneConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    qat: QatConfig = field(default_factory=QatConfig)

    def techniques(self) -> tuple[str, ...]:
        """The enabled techniques, in the order they run."""
        return tuple(name for name in self.order if getattr(self, name).enabled)
