"""Wording shared by messages across the package."""

from __future__ import annotations

from collections.abc import Sequence


def listed(items: Sequence[str], shown: int = 4) -> str:
    """`a, b, c and 5 more`: the first `shown` items, then how many were left out."""
    more = len(items) - shown
    return ", ".join(items[:shown]) + (f" and {more} more" if more > 0 else "")
