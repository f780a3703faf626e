"""Progress lines of the stages: `[n/7] stage: what`, then indented details."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

STAGES = 7  # data, model, train, compress, export, verify, report


@dataclass(frozen=True)
class StageLog:
    """Where the stages' progress goes.

    Attributes:
        write: the function each line goes to. Defaults to `print`.
        verbose: Keras verbosity of the fits (`None`: a progress bar on a terminal, one line
            per epoch otherwise). Defaults to `None`.
        numbered: open each stage with its number among the pipeline's (`[3/7] train: ...`);
            off where the stages run in another order (the sweep). Defaults to `True`.
    """

    write: Callable[[str], None] = print
    verbose: int | None = None
    numbered: bool = True

    def stage(self, number: int, name: str, text: str) -> None:
        """The line that opens a stage."""
        self.write(f"[{number}/{STAGES}] {name}: {text}" if self.numbered else f"{name}: {text}")

    def detail(self, text: str) -> None:
        """An indented line under the current stage."""
        self.write(f"      {text}")

    def line(self, text: str = "") -> None:
        self.write(text)


def scores_text(scores: dict[str, float]) -> str:
    """Scores as `name value, ...` for a progress line."""
    return ", ".join(f"{name.replace('_', ' ')} {value:.4g}" for name, value in scores.items())
