"""Figures for files and reports, drawn off-screen without pyplot.

The package must not choose the plotting backend of the process that calls it: with
`matplotlib.use("Agg")` here, a notebook's own figures stopped showing after its first run.
A bare `Figure` renders to a file or buffer through Agg whatever the backend is.
"""

from __future__ import annotations

from typing import Any


def subplots(*args: Any, figsize: tuple[float, float] | None = None, **kwargs: Any):
    """`pyplot.subplots` without pyplot: returns `(figure, axes)`."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize)
    return figure, figure.subplots(*args, **kwargs)
