"""The rules of a pruning schedule, declared once, and the schedule object `apply_pruning` takes.

The `compress.prune` config keys (`PruneConfig`) and the arguments of `apply_pruning`
(`PruningSchedule`) are checked against the same rules: the ranges below, stated as config
key rules by the schema and as argument rules by `check_arguments`, and the rules across
fields (`Check`), each with its wording for both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from tfpipeline._schema import Check, check_arguments, rule

if TYPE_CHECKING:
    from tfpipeline.config.compress import PruneConfig

PRUNING_SCHEDULES = ("polynomial", "constant")

SPARSITY = rule(low=0.0, high=1.0, low_open=True, high_open=True)
INITIAL_SPARSITY = rule(low=0.0, high=1.0, high_open=True)
SCHEDULE = rule(choices=PRUNING_SCHEDULES)


# The rules across fields are named functions, not lambdas, so that mutation testing reaches them.
def _initial_below_sparsity(schedule: PruningSchedule | PruneConfig) -> bool:
    return schedule.initial_sparsity < schedule.sparsity


def _is_m_by_n(schedule: PruningSchedule | PruneConfig) -> bool:
    if schedule.sparsity_m_by_n is None:
        return True
    m_n = list(schedule.sparsity_m_by_n)
    return len(m_n) == 2 and all(isinstance(v, int) for v in m_n) and 0 < m_n[0] < m_n[1]


def _steps_in_order(schedule: PruningSchedule) -> bool:
    return 0 <= schedule.begin_step < schedule.end_step


INITIAL_BELOW_SPARSITY = Check(
    _initial_below_sparsity,
    argument="Argument `initial_sparsity` must be >= 0 and below `sparsity` ({sparsity}). "
    "Received: initial_sparsity={initial_sparsity}",
    config_key="Config key `{prefix}initial_sparsity` must be below `sparsity` ({sparsity}). "
    "Received: initial_sparsity={initial_sparsity}",
)
M_BY_N = Check(
    _is_m_by_n,
    argument="Argument `sparsity_m_by_n` must be two integers [m, n] with 0 < m < n, such as "
    "[2, 4]. Received: sparsity_m_by_n={sparsity_m_by_n}",
    config_key="Config key `{prefix}sparsity_m_by_n` must be [m, n] with m < n, such as "
    "[2, 4]. Received: sparsity_m_by_n={sparsity_m_by_n}",
)
# Arguments only: the config counts epochs instead (`compress.EPOCH_WINDOW`).
STEP_WINDOW = Check(
    _steps_in_order,
    argument="Arguments `begin_step` and `end_step` must satisfy 0 <= begin_step < end_step. "
    "Received: begin_step={begin_step}, end_step={end_step}",
)


@dataclass(frozen=True)
class PruningSchedule:
    """When and how far magnitude pruning zeroes weights, in optimizer steps.

    With the `polynomial` schedule (TFMOT's `PolynomialDecay`) sparsity rises from
    `initial_sparsity` to `sparsity` between `begin_step` and `end_step`; with `constant`
    (`ConstantSparsity`) it is `sparsity` from `begin_step` on. The rules are those of the
    `compress.prune` config keys; a schedule that breaks one is refused when it is made.

    Attributes:
        sparsity: the final fraction of zero weights in each pruned kernel, in (0, 1).
        end_step: the optimizer step at which the final sparsity is reached, > `begin_step`.
        initial_sparsity: the sparsity the polynomial schedule starts from, in
            [0, sparsity). Defaults to `0.0`.
        begin_step: the optimizer step at which pruning starts, >= 0. Defaults to `0`.
        schedule: `polynomial` or `constant`. Defaults to `"polynomial"`.
        sparsity_m_by_n: `(m, n)` for structured sparsity: m zeros in every n consecutive
            input weights (`(2, 4)` is the 2:4 pattern sparse hardware runs fast); the
            sparsity is then m/n whatever `sparsity` says. A list is kept as a tuple.
            Defaults to `None`.

    Raises:
        ValueError: for a value out of range, naming the argument, the rule and the value.
        TypeError: for a `sparsity` or `initial_sparsity` that is not a number.
    """

    sparsity: float = field(metadata=SPARSITY)
    end_step: int
    initial_sparsity: float = field(default=0.0, metadata=INITIAL_SPARSITY)
    begin_step: int = 0
    schedule: str = field(default="polynomial", metadata=SCHEDULE)
    sparsity_m_by_n: tuple[int, ...] | None = None

    checks: ClassVar[tuple[Check, ...]] = (INITIAL_BELOW_SPARSITY, M_BY_N, STEP_WINDOW)

    def __post_init__(self) -> None:
        check_arguments(self)
        if self.sparsity_m_by_n is not None:  # hashable, and as TFMOT takes it
            object.__setattr__(self, "sparsity_m_by_n", tuple(self.sparsity_m_by_n))

    @classmethod
    def from_epochs(cls, config: PruneConfig, steps_per_epoch: int) -> PruningSchedule:
        """Returns the schedule of a `compress.prune` section, its epochs turned into steps.

        Args:
            config: the prune section of the config.
            steps_per_epoch: optimizer steps in one fine-tuning epoch.

        Returns:
            The schedule; pruning lasts at least one step, however short an epoch.
        """
        begin_step = int(config.begin_epoch * steps_per_epoch)
        end_step = int(config.ramp_end_epoch() * steps_per_epoch)
        return cls(
            config.sparsity,
            max(begin_step + 1, end_step),
            initial_sparsity=config.initial_sparsity,
            begin_step=begin_step,
            schedule=config.schedule,
            sparsity_m_by_n=config.sparsity_m_by_n,
        )
