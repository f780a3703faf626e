"""Curves drawn one way everywhere (notebooks, report): epochs counted from 1 on integer
ticks, each curve in a style of its own so none hides another, axes labelled, the legend
beside the plot when it would cover curves."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

# Colour, line style and marker all change from one curve to the next.
_COLOURS = ("C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9")
_LINES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D", "v", "x", "P", "*")
# More curves than this and the legend goes beside the axes, not over them.
_LEGEND_INSIDE_AT_MOST = 3


def curve_styles(count: int) -> list[dict]:
    """`count` distinct styles for `Axes.plot`: colour, line style and marker."""
    styles = zip(_COLOURS * 10, itertools.cycle(_LINES), itertools.cycle(_MARKERS))
    return [
        {"color": colour, "linestyle": line, "marker": marker, "markersize": 4}
        for colour, line, marker in itertools.islice(styles, count)
    ]


def plot_curves(
    ax,
    curves: Mapping[str, Sequence[float]],
    ylabel: str,
    *,
    xlabel: str = "epoch",
    title: str | None = None,
    log_y: bool = False,
):
    """Draws each named curve against 1, 2, 3, ... (epochs, or steps with `xlabel`).

    Returns the axes. Give the figure `layout="constrained"` (or call `tight_layout`) so a
    legend placed beside the axes and the tick labels stay inside it.
    """
    from matplotlib.ticker import MaxNLocator

    for (name, values), style in zip(curves.items(), curve_styles(len(curves)), strict=True):
        values = list(values)
        ax.plot(range(1, len(values) + 1), values, label=name, **style)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if log_y:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    if len(curves) > _LEGEND_INSIDE_AT_MOST:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0, fontsize=8)
    elif curves:
        ax.legend(loc="best", fontsize=8)
    return ax
