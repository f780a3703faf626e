"""The argument parser of the `tfpipeline` command: one function per sub-command.

`tfpipeline.cli` runs what it parses.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_INIT_NAME = "tfpipeline.yaml"


class _HelpFormatter(argparse.HelpFormatter):
    """Appends each option's default to its help, unless the help already explains it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        unset = action.default in (None, False, argparse.SUPPRESS, [])
        if "default" in text or unset or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # argparse's own usage errors: exit 2, one line
        raise SystemExit(f"tfpipeline: error: {message} (see: {self.prog} --help)") from None


def build_parser() -> argparse.ArgumentParser:
    """Returns the argument parser of the `tfpipeline` command."""
    from tfpipeline import __version__

    parser = _Parser(
        prog="tfpipeline",
        description="From raw data to verified TFLite and ONNX models, in one pipeline.",
        epilog="Exit codes: 0 success, 1 a failed run or check (for example a verification "
        "failure), 2 bad usage, configuration or input. `tfpipeline COMMAND --help` lists a "
        "command's options and their defaults.",
    )
    parser.add_argument("--version", action="version", version=f"tfpipeline {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_run(commands)
    _add_compress_sweep(commands)
    _add_verify(commands)
    _add_predict(commands)
    _add_benchmark(commands)
    _add_doctor(commands)
    _add_init(commands)
    return parser


def _add_run(commands: argparse._SubParsersAction) -> None:
    """Adds the `run` command: the whole pipeline."""
    run = commands.add_parser(
        "run",
        help="run the whole pipeline (the embedded default config when no --config is given)",
        description="Run data -> model -> train -> compress -> export -> verify -> report.",
    )
    _add_config_arguments(run, "run folder (default: saved_models/<timestamp>)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    run.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a finished run in --output (only once the new run has finished)",
    )
    run.add_argument(
        "--json",
        action="store_true",
        help="print the manifest as JSON on stdout (progress goes to stderr)",
    )
    run.add_argument(
        "--workers",
        type=_text_list,
        metavar="HOST:PORT,...",
        help="train on several machines: every worker's address, the same list on each "
        "(sets TF_CONFIG and train.distribute: multi_worker; needs --output on shared storage)",
    )
    run.add_argument(
        "--worker-index",
        type=int,
        metavar="N",
        help="this machine's place in --workers (0 is the chief, which writes the run)",
    )


def _add_compress_sweep(commands: argparse._SubParsersAction) -> None:
    """Adds the `compress-sweep` command: a grid of compression variants."""
    sweep = commands.add_parser(
        "compress-sweep",
        help="train once, try a grid of compression variants, pick the smallest that keeps "
        "its accuracy",
        description="Train the configured model once, then prune, cluster and train "
        "quantization-aware at several strengths, export each as .tflite and measure it in "
        "LiteRT. Writes a table (sweep.md, sweep.csv), a plot (sweep.png) and every .tflite, "
        "and names the smallest variant within --max-accuracy-drop of the float32 .tflite "
        "on the validation split (the test split is held out and reported).",
    )
    _add_config_arguments(sweep, "sweep folder (default: saved_models/sweep-<timestamp>)")
    sweep.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    sweep.add_argument(
        "--max-accuracy-drop",
        type=float,
        default=1.0,
        metavar="POINTS",
        help="accuracy points the chosen variant may lose (on the validation split)",
    )
    sweep.add_argument(
        "--sparsities",
        type=_float_list,
        default=None,
        metavar="S,S,...",
        help="pruning sparsities to try (default: 0.5,0.75,0.85,0.9)",
    )
    sweep.add_argument(
        "--clusters",
        type=_int_list,
        default=None,
        metavar="N,N,...",
        help="cluster counts to try (default: 8,16)",
    )
    sweep.add_argument(
        "--tflite",
        type=_text_list,
        default=None,
        metavar="V,V,...",
        help="post-training .tflite variants of each model without QAT "
        "(default: float16,dynamic,int8)",
    )
    sweep.add_argument("--no-qat", action="store_true", help="skip quantization-aware variants")
    sweep.add_argument(
        "--no-combined", action="store_true", help="skip prune-then-cluster variants"
    )
    sweep.add_argument(
        "--bundle",
        action="store_true",
        help="verify the chosen variant and write it as chosen/ (the .tflite, labels.txt, "
        "manifest.json and the Android bundle with its model card)",
    )


def _add_verify(commands: argparse._SubParsersAction) -> None:
    """Adds the `verify` command: an exported model checked in its runtime."""
    verify = commands.add_parser(
        "verify",
        help="run an exported model on test data in its runtime and check it",
        description="Run a .tflite, .onnx or SavedModel on the test split (of its run's data "
        "when it sits in a run folder, else of --config / --data) and check it against a "
        "reference model with the verify.* thresholds. Exit code 1 when a check fails.",
    )
    verify.add_argument("model", type=Path, help="the .tflite, .onnx or SavedModel folder")
    _add_config_arguments(verify, None)
    verify.add_argument(
        "--data", type=Path, help="a CSV file, TFRecord file or image folder to test on"
    )
    verify.add_argument(
        "--reference",
        type=Path,
        help="a float model to compare outputs with (default: the run's saved_model)",
    )
    verify.add_argument(
        "--variant",
        help="the model's variant, which picks the thresholds (default: from the run's "
        "manifest or the file name)",
    )


def _add_predict(commands: argparse._SubParsersAction) -> None:
    """Adds the `predict` command: a model's predictions for a file."""
    predict = commands.add_parser(
        "predict",
        help="print a model's predictions for a .npy, CSV or image file, or a text",
        description="Run an exported model on the samples in INPUT (.npy, a CSV of numbers "
        "with one sample per row, or an image; for a text model, the text itself or a .txt "
        "file holding it) and print each one's top labels.",
    )
    predict.add_argument("model", type=Path, help="the .tflite, .onnx or SavedModel folder")
    predict.add_argument(
        "input", help="a .npy, .csv or image file; for a text model, a text or a .txt file"
    )
    predict.add_argument(
        "--top", type=_positive_int, default=3, help="labels shown per sample (>= 1)"
    )
    predict.add_argument("-v", "--verbose", action="store_true", help="show tracebacks")


def _add_benchmark(commands: argparse._SubParsersAction) -> None:
    """Adds the `benchmark` command: exported models timed."""
    bench = commands.add_parser(
        "benchmark",
        help="time exported models (and a Keras model) on the same samples",
        description="Load time, single-sample latency p50/p95/p99, batch-32 throughput and "
        "memory of each model, on samples of the config's test split (or --input).",
    )
    bench.add_argument("models", type=Path, nargs="+", help=".tflite, .onnx or SavedModel")
    _add_config_arguments(bench, None)
    bench.add_argument("--input", type=Path, help="a .npy file of samples to run")
    bench.add_argument("--keras", type=Path, help="a .keras model to time beside them")
    bench.add_argument(
        "--threads", type=_positive_int, default=None, help="runtime CPU threads (>= 1)"
    )
    bench.add_argument(
        "--runs", type=_positive_int, default=200, help="timed calls per model (>= 1)"
    )


def _add_doctor(commands: argparse._SubParsersAction) -> None:
    """Adds the `doctor` command: the installed libraries checked."""
    doctor = commands.add_parser(
        "doctor",
        help="check the installed libraries and that they work together",
        description="Print the versions of Python and each library, check that tf_keras is in "
        "effect and that a tiny model converts to TFLite (run in LiteRT) and ONNX (run in "
        "onnxruntime) and takes a TFMOT wrapper. Exit code 1 when something is broken.",
    )
    doctor.add_argument("-v", "--verbose", action="store_true", help="show TensorFlow's logs")


def _add_init(commands: argparse._SubParsersAction) -> None:
    """Adds the `init` command: a copy of the default config to edit."""
    init = commands.add_parser(
        "init",
        help="write a copy of the default config to edit",
        description="Write the "
        "embedded default config to a file, to edit and pass to `tfpipeline run --config`.",
    )
    init.add_argument(
        "path",
        nargs="?",
        type=Path,
        default=Path(DEFAULT_INIT_NAME),
        help=f"a file, or a folder to write {DEFAULT_INIT_NAME} into",
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing file")


def _add_config_arguments(command: argparse.ArgumentParser, output_help: str | None) -> None:
    command.add_argument("--config", type=Path, help="a YAML config file (default: embedded)")
    if output_help:
        command.add_argument("--output", type=Path, help=output_help)
    command.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key by dotted path, value read as YAML "
        "(e.g. --set train.epochs=3 --set export.tflite=[float32,int8]); repeatable",
    )
    command.add_argument("-v", "--verbose", action="store_true", help="show tracebacks and TF logs")


def _text_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _float_list(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        msg = f"expected numbers separated by commas: {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1: {text!r}")
    if value > 2**31 - 1:
        raise argparse.ArgumentTypeError(f"expected a whole number <= {2**31 - 1}: {text!r}")
    return value


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        msg = f"expected whole numbers separated by commas: {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
