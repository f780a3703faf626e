"""The command line, run as a user runs it: real processes, real exit codes."""

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from tfpipeline import default_config_path

# A fast but real run: one epoch, no pruning, one artifact.
QUICK = [
    "--set", "train.epochs=1",
    "--set", "compress.prune.enabled=false",
    "--set", "export={saved_model: false, onnx: false, tflite: [float32]}",
    "--set", "verify.latency_runs=5",
]  # fmt: skip


def tfpipeline(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "tfpipeline", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_help_and_version():
    result = tfpipeline("--help")
    assert result.returncode == 0 and "Exit codes: 0 success, 1 a failed run" in result.stdout
    for command in COMMANDS:
        assert f"\n    {command}" in result.stdout
    result = tfpipeline("--version")
    assert result.returncode == 0 and result.stdout.startswith("tfpipeline ")


COMMANDS = ["run", "compress-sweep", "verify", "predict", "benchmark", "doctor", "init"]


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        ("run", ["--set KEY=VALUE", "--json", "-q, --quiet", "(default: embedded)"]),
        ("compress-sweep", ["--max-accuracy-drop POINTS", "(default: 1.0)", "--no-qat"]),
        ("verify", ["--reference REFERENCE", "--data DATA"]),
        ("predict", ["--top TOP", "(default: 3)"]),
        ("benchmark", ["--runs RUNS", "(default: 200)", "--keras KERAS"]),
        ("doctor", ["-v, --verbose"]),
        ("init", ["--force", "tfpipeline.yaml"]),
    ],
)
def test_every_command_lists_its_options_and_defaults(command, shown):
    result = tfpipeline(command, "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # help wraps lines
    for part in shown:
        assert part in text, (command, part)


def test_the_docs_hold_the_current_cli_reference():
    from tfpipeline.cli_reference import BEGIN, END, cli_reference

    page = Path(__file__).resolve().parents[1] / "docs" / "reference" / "cli.md"
    written = page.read_text("utf-8").split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert written == cli_reference(), (
        "run: python -m tfpipeline.cli_reference, and paste its output between the markers "
        "of docs/reference/cli.md"
    )
    for command in ["run", "compress-sweep", "verify", "predict", "benchmark", "doctor", "init"]:
        assert f"## `tfpipeline {command}`" in written, command
    assert "| `--runs RUNS` | timed calls per model (>= 1) (default: 200) |" in written


def test_console_script_is_installed():
    """The `tfpipeline` command that `pip install` put beside this Python runs, whatever PATH
    holds (another environment's `tfpipeline` may come first on it, or none at all)."""
    try:
        distribution = metadata.distribution("tfpipeline")
    except metadata.PackageNotFoundError:
        pytest.skip("tfpipeline is not installed here (pip install -e .): no console script")
    scripts = [e for e in distribution.entry_points if e.group == "console_scripts"]
    assert [(e.name, e.value) for e in scripts] == [("tfpipeline", "tfpipeline.cli:main")]
    folder = Path(sys.executable).parent  # the environment's bin/ (Scripts\ on Windows)
    script = folder / ("tfpipeline.exe" if sys.platform == "win32" else "tfpipeline")
    assert script.is_file(), f"tfpipeline is installed but its console script {script} is missing"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == f"tfpipeline {distribution.version}"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "--set", "train.epoch=3"], "Did you mean `train.epochs`?"),
        (["run", "--set", "train.learning_rate=-1"], "Received: train.learning_rate=-1"),
        (["run", "--set", "export.tflite=[float64]"], "must be one of float32, float16, dynamic,"),
        (["run", "--config", "missing.yaml"], "Config file not found: missing.yaml"),
        (["run", "--bogus"], "unrecognized arguments: --bogus"),
        (["launch"], "invalid choice: 'launch'"),
        ([], "usage: tfpipeline"),
    ],
)
def test_bad_usage_exits_2_with_one_clear_line(tmp_path, args, expected):
    result = tfpipeline(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert expected in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written, no run folder started


def test_init_writes_the_default_and_never_overwrites(tmp_path):
    target = tmp_path / "my.yaml"
    assert tfpipeline("init", target).returncode == 0
    assert target.read_text() == default_config_path().read_text()
    target.write_text("train:\n  epochs: 2\n")
    again = tfpipeline("init", target)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert target.read_text() == "train:\n  epochs: 2\n"
    assert tfpipeline("init", target, "--force").returncode == 0
    assert target.read_text() == default_config_path().read_text()
    folder = tmp_path / "configs"
    folder.mkdir()
    assert tfpipeline("init", folder).returncode == 0  # a folder: the template goes inside
    assert (folder / "tfpipeline.yaml").read_text() == default_config_path().read_text()
    (tmp_path / "data.csv").write_text("a,label\n")
    (tmp_path / "link.yaml").symlink_to(tmp_path / "data.csv")
    assert tfpipeline("init", tmp_path / "link.yaml", "--force").returncode == 0
    assert (tmp_path / "data.csv").read_text() == "a,label\n"  # the link replaced, not its file
    assert not (tmp_path / "link.yaml").is_symlink()


@pytest.mark.slow
def test_run_prints_each_stage_and_writes_the_run_folder(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("train:\n  batch_size: 64\n")
    result = tfpipeline("run", "--config", config, "--output", tmp_path / "run", *QUICK)
    assert result.returncode == 0, result.stderr
    for number, stage in enumerate(
        ["data", "model", "train", "compress", "export", "verify", "report"], start=1
    ):
        assert f"[{number}/7] {stage}:" in result.stdout
    assert "| model_float32.tflite |" in result.stdout
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["config"]["train"]["batch_size"] == 64
    assert manifest["config"]["train"]["epochs"] == 1
    assert manifest["status"] == "passed"


@pytest.mark.slow
def test_a_verification_failure_exits_1_naming_artifact_and_figure(tmp_path):
    result = tfpipeline(
        "run", "--output", tmp_path / "run", *QUICK, "--set", "verify.min_accuracy=1.0"
    )
    assert result.returncode == 1
    assert "model_float32.tflite: test_accuracy=" in result.stderr
    assert "verify.min_accuracy=1" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_json_prints_the_manifest_and_quiet_prints_nothing(tmp_path):
    result = tfpipeline("run", "--output", tmp_path / "a", "--json", *QUICK)
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = json.loads(result.stdout)  # stdout is the manifest alone
    assert manifest == json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert "[1/7] data:" in result.stderr  # progress went to stderr
    quiet = tfpipeline("run", "--output", tmp_path / "b", "-q", *QUICK)
    assert quiet.returncode == 0 and quiet.stdout == ""
    assert (tmp_path / "b" / "report.html").is_file()


@pytest.mark.slow
def test_doctor_passes_here_and_names_what_is_broken(tmp_path):
    result = tfpipeline("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("tensorflow", "tf-keras", "onnxruntime", "ai-edge-litert", "protobuf"):
        assert f"  ok   {name} " in result.stdout
    assert "ok   tf_keras in effect" in result.stdout and "all checks passed" in result.stdout
    broken = subprocess.run(  # onnxruntime made unimportable in this process only
        [
            sys.executable,
            "-c",
            "import sys; sys.modules['onnxruntime'] = None; "
            "from tfpipeline.cli import main; sys.exit(main(['doctor']))",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert broken.returncode == 1
    assert "FAIL onnxruntime" in broken.stdout and "cannot import onnxruntime" in broken.stdout
    assert "FAIL ONNX conversion" in broken.stdout and "something is broken" in broken.stdout
