"""The header every benchmark prints: the machine, the package versions, the load."""

from __future__ import annotations

import importlib.metadata
import os
import platform


def machine(packages: tuple[str, ...]) -> str:
    """The machine, Python, the load averages, and the installed version of each package."""
    versions = []
    for name in packages:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; {load()}\n" + ", ".join(versions)
    )


def load() -> str:
    """The machine's load averages: other work running beside this benchmark."""
    return "load average (1, 5, 15 min): " + ", ".join(f"{v:.1f}" for v in os.getloadavg())
