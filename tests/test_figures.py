"""The package draws its figures (confusion matrix, sweep plot, HTML report) off-screen
without touching the caller's plotting backend: a notebook's own figures keep showing."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import sys
from pathlib import Path

import matplotlib

matplotlib.use("svg")  # the caller's choice, as a notebook's inline backend is
from tfpipeline.evaluation import plot_confusion_matrix
from tfpipeline._figures import subplots
from tfpipeline.report_html import _png
from tfpipeline.sweep_report import plot_sweep

out = Path(sys.argv[1])
report = {"confusion_matrix": [[3, 1], [0, 4]], "class_names": ["a", "b"], "accuracy": 0.875}
plot_confusion_matrix(report, out / "matrix.png")
row = {"name": "int8", "qat": False, "gzip_bytes": 2048, "val_accuracy": 0.9,
       "test_accuracy": 0.8, "pareto": True}
plot_sweep([row], row, out / "sweep.png", 0.85)
fig, ax = subplots(figsize=(3, 2))
ax.plot([1, 2], [3, 4])
png = _png(fig)
print(matplotlib.get_backend(), png[:4] == b"\\x89PNG")
"""


def test_figures_are_drawn_without_changing_the_callers_backend(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["svg", "True"], done.stdout
    for name in ("matrix.png", "sweep.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
