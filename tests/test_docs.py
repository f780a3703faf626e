"""The documentation site builds with no warning, and its references cover what they must.

`mkdocs build --strict` fails on a broken link or anchor, a page missing from the nav, a
name the API reference cannot find and a docstring it cannot read; the other tests say
what to add where, in one line.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tfpipeline import _EXPORTS

ROOT = Path(__file__).resolve().parents[1]
API_PAGE = ROOT / "docs" / "reference" / "api.md"


def _directives() -> list[str]:
    """The objects the API page renders: the paths of its `::: path` lines."""
    return re.findall(r"^::: (\S+)\s*$", API_PAGE.read_text("utf-8"), flags=re.M)


def _nav_pages(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [page for value in node.values() for page in _nav_pages(value)]
    return [page for item in node for page in _nav_pages(item)]


def test_the_site_builds_strict(tmp_path):
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "WARNING" not in result.stderr, result.stderr[-4000:]
    api = (site / "reference" / "api" / "index.html").read_text("utf-8")
    assert "Runs every stage and writes the run folder." in api  # Pipeline.run's docstring
    assert "Parameters:" in api and "SUPPORTED_KERAS3_LAYERS" in api
    notebook = (site / "notebooks" / "01_quickstart" / "index.html").read_text("utf-8")
    assert "import tfpipeline" in notebook  # rendered from the notebook, not run
    benchmarks = (site / "benchmarks" / "index.html").read_text("utf-8")
    assert "Benchmark results" in benchmarks and "bench/default_run.py" in benchmarks
    assert "--8&lt;--" not in benchmarks  # the snippet was included, not shown
    assert (site / "assets" / "compress_sweep.png").stat().st_size > 10_000


def test_every_public_name_is_on_the_api_page():
    paths = _directives()
    missing = []
    for name, module in _EXPORTS.items():
        # `module.name`, or a deeper path inside that module where a submodule has the name
        # (`tfpipeline.data.clean.clean`).
        if not any(
            p == f"{module}.{name}" or (p.startswith(f"{module}.") and p.endswith(f".{name}"))
            for p in paths
        ):
            missing.append(f"::: {module}.{name}")
    assert not missing, (
        "public names without an entry in docs/reference/api.md: add each line "
        f"{missing} under the heading of its stage there (a new stage gets its own `## ` "
        "heading)"
    )


def test_the_api_page_holds_only_public_names_each_once():
    names = [path.rsplit(".", 1)[1] for path in _directives()]
    private = sorted(set(names) - set(_EXPORTS))
    assert not private, f"docs/reference/api.md renders names that are not public: {private}"
    repeated = sorted({name for name in names if names.count(name) > 1})
    assert not repeated, f"docs/reference/api.md renders these more than once: {repeated}"


def test_every_notebook_has_a_page_in_the_nav():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text("utf-8"))
    listed = {page for page in _nav_pages(config["nav"]) if page.startswith("notebooks/")}
    notebooks = {f"notebooks/{path.name}" for path in (ROOT / "notebooks").glob("*.ipynb")}
    assert listed == notebooks, (
        f"mkdocs.yml's Notebooks section lacks {sorted(notebooks - listed)} and lists "
        f"{sorted(listed - notebooks)} that do not exist: add a line `- NN Title: "
        "notebooks/NN_name.ipynb` there per notebook"
    )
    assert (ROOT / "docs" / "notebooks").resolve() == (ROOT / "notebooks").resolve()
