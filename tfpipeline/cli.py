"""The `tfpipeline` command line: a thin layer over `load_config` and `Pipeline`.

Exit codes: 0 success, 1 a failed run (for example a verification failure), 2 bad usage or
bad config. Errors print one line; `-v` adds the traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import sys
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path

from tfpipeline.errors import ConfigError, DataError, TfpipelineError, UnsupportedModelError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
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
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
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
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
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

    predict = commands.add_parser(
        "predict",
        help="print a model's predictions for a .npy, CSV or image file",
        description="Run an exported model on the samples in INPUT (.npy, a CSV of numbers "
        "with one sample per row, or an image) and print each one's top labels.",
    )
    predict.add_argument("model", type=Path, help="the .tflite, .onnx or SavedModel folder")
    predict.add_argument("input", type=Path, help="a .npy, .csv or image file")
    predict.add_argument(
        "--top", type=_positive_int, default=3, help="labels shown per sample (>= 1)"
    )
    predict.add_argument("-v", "--verbose", action="store_true", help="show tracebacks")

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

    doctor = commands.add_parser(
        "doctor",
        help="check the installed libraries and that they work together",
        description="Print the versions of Python and each library, check that tf_keras is in "
        "effect and that a tiny model converts to TFLite (run in LiteRT) and ONNX (run in "
        "onnxruntime) and takes a TFMOT wrapper. Exit code 1 when something is broken.",
    )
    doctor.add_argument("-v", "--verbose", action="store_true", help="show TensorFlow's logs")

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
    return parser


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


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line and returns its exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return _usage_exit(exc)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    verbose = getattr(args, "verbose", False)
    try:
        if args.command == "init":
            return _init(args.path, args.force)
        if args.command == "compress-sweep":
            return _sweep(args)
        if args.command in ("verify", "predict", "benchmark"):
            return _deploy_command(args)
        if args.command == "doctor":
            _quiet(args.verbose)
            from tfpipeline.doctor import run_doctor

            return EXIT_OK if run_doctor() else EXIT_FAILED
        return _run(args)
    except (ConfigError, DataError, UnsupportedModelError) as exc:
        return _fail(exc, EXIT_USAGE, verbose)
    except TfpipelineError as exc:
        return _fail(exc, EXIT_FAILED, verbose)
    except KeyboardInterrupt:
        print("tfpipeline: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an unexpected failure still gets one clear line
        return _fail(exc, EXIT_FAILED, verbose, prefix=f"unexpected {type(exc).__name__}: ")


def _usage_exit(exc: SystemExit) -> int:
    if isinstance(exc.code, str):
        print(exc.code, file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK if exc.code in (0, None) else EXIT_USAGE


def _fail(exc: BaseException, code: int, verbose: bool, prefix: str = "") -> int:
    if verbose:
        traceback.print_exc()
    hint = " (run again with -v for the traceback)" if prefix and not verbose else ""
    message = str(exc)
    if len(message) > 2000:  # a last guard: one error is a line to read, not a data dump
        message = f"{message[:2000]}… ({len(message):,} characters)"
    print(f"tfpipeline: error: {prefix}{message}{hint}", file=sys.stderr)
    return code


def _init(path: Path, force: bool) -> int:
    from tfpipeline.config import default_config_path

    if path.is_dir():  # a folder: the template goes inside it
        path = path / DEFAULT_INIT_NAME
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; pass --force to overwrite it.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():  # --force replaces the link, never the file it points at
            path.unlink()
        shutil.copyfile(default_config_path(), path)
    except OSError as exc:
        blocker = next((p for p in path.parents if p.exists()), None)
        reason = exc.strerror or str(exc)
        if blocker is not None and not blocker.is_dir():
            reason = f"{blocker} is a file, not a folder"
        raise ConfigError(
            f"Cannot write the config to {path}: {reason}. Choose a writable file or folder."
        ) from None
    print(f"wrote {path}; edit it, then: tfpipeline run --config {path}")
    return EXIT_OK


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"tfpipeline: warning: {message}", file=sys.stderr, flush=True)


def _load_config(args: argparse.Namespace):
    from tfpipeline.config import load_config

    config = load_config(args.config, args.overrides)  # refused here, before any work
    _quiet(args.verbose)
    return config


def _quiet(verbose: bool) -> None:
    # TensorFlow's Python warnings (such as cluster-preserving QAT's expected "Gradients do
    # not exist" for the kernels it replaces) are noise for a user; -v shows them.
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.showwarning = _show_warning


def _deploy_command(args: argparse.Namespace) -> int:
    from tfpipeline import commands

    def log(line: str) -> None:
        print(line, flush=True)

    if args.command == "predict":
        _quiet(args.verbose)
        commands.predict_command(args.model, args.input, args.top, log)
        return EXIT_OK
    config = commands.config_for_model(
        args.models[0] if args.command == "benchmark" else args.model,
        args.config,
        args.overrides,
        getattr(args, "data", None),
    )
    _quiet(args.verbose)
    if args.command == "verify":
        passed = commands.verify_command(args.model, config, args.reference, args.variant, log)
        return EXIT_OK if passed else EXIT_FAILED
    if args.input is not None:
        x = commands.load_npy(args.input).astype("float32")
    else:
        from tfpipeline.data import prepare_data

        x = prepare_data(config.data).splits.test.arrays()[0]
    commands.benchmark_command(args.models, args.keras, x, args.runs, args.threads, log)
    return EXIT_OK


def _sweep(args: argparse.Namespace) -> int:
    from tfpipeline.sweep import SweepGrid

    config = _load_config(args)
    grid = SweepGrid(qat=not args.no_qat, combined=not args.no_combined)
    if args.sparsities is not None:
        grid = dataclasses.replace(grid, sparsities=tuple(args.sparsities))
    if args.clusters is not None:
        grid = dataclasses.replace(grid, clusters=tuple(args.clusters))
    if args.tflite is not None:
        grid = dataclasses.replace(grid, tflite=tuple(args.tflite))
    from tfpipeline.sweep import compress_sweep

    compress_sweep(
        config,
        args.output,
        grid=grid,
        max_accuracy_drop=args.max_accuracy_drop,
        log=_progress(args),
        verbose=0 if args.quiet else None,
        bundle=args.bundle,
    )
    return EXIT_OK


def _progress(args: argparse.Namespace):
    """Where progress lines go: stdout, stderr with --json (stdout holds the JSON), or nowhere."""
    if args.quiet:
        return lambda line: None
    stream = sys.stderr if getattr(args, "json", False) else sys.stdout
    return lambda line: print(line, file=stream, flush=True)


def _run(args: argparse.Namespace) -> int:
    if (args.workers is None) != (args.worker_index is None):
        raise ConfigError("--workers and --worker-index go together: give both, or neither.")
    if args.workers is not None:
        from tfpipeline.distribute import workers_tf_config

        os.environ["TF_CONFIG"] = workers_tf_config(args.workers, args.worker_index)
        args.overrides = [*args.overrides, "train.distribute=multi_worker"]
    config = _load_config(args)
    from tfpipeline.errors import VerificationError
    from tfpipeline.pipeline import Pipeline

    quiet_fit = 0 if (args.quiet or args.json) else None  # no Keras bars on stdout then
    pipeline = Pipeline(config, log=_progress(args), verbose=quiet_fit)
    try:
        manifest = pipeline.run(args.output, overwrite=args.overwrite)
    except VerificationError:
        if args.json and pipeline.run_dir is not None:  # the failed run's manifest, still
            print((pipeline.run_dir / "manifest.json").read_text("utf-8"), end="")
        raise
    if args.json:
        print(json.dumps(manifest, indent=2))
    elif not args.quiet:
        print(f"\ndone in {manifest['duration_s']:.1f} s: {manifest['run_name']}")
    return EXIT_OK
