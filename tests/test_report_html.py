"""report.html renders in headless Chromium: every section there, no broken image."""

import re
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--virtual-time-budget=5000",
]  # fmt: skip

# Appended to a copy of the page: once loaded, the title says what the browser rendered.
PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const broken = images.filter(i => !i.complete || i.naturalWidth === 0).length;
  const sections = [...document.querySelectorAll("section h2")].map(h => h.textContent);
  document.title = `images=${images.length};broken=${broken};sections=${sections.join("|")}`;
});
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_report_html_renders_every_section_and_image(tiny_run, tmp_path):
    run_dir, manifest = tiny_run
    page = (run_dir / "report.html").read_text("utf-8")
    assert "src='data:image/png;base64," in page and "<img alt='training curves'" in page
    probe = tmp_path / "report.html"
    probe.write_text(page + PROBE, "utf-8")
    result = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", probe.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    title = re.search(r"<title>images=(\d+);broken=(\d+);sections=([^<]*)</title>", result.stdout)
    assert title, result.stdout[-2000:] + result.stderr[-2000:]
    images, broken, sections = int(title[1]), int(title[2]), title[3].split("|")
    assert sections == [
        "Summary", "Data", "Training", "Evaluation", "Compression", "Artifacts", "Environment"
    ]  # fmt: skip
    # class balance, curves, confusion matrix, feature attributions, size/accuracy
    assert images == 5 and broken == 0
    for artifact in manifest["artifacts"]:
        assert f"<td>{artifact['path']}</td>" in page
