"""The `tfpipeline` command line: a thin layer over `load_config` and `Pipeline`.

Exit codes: 0 success, 1 a failed run (for example a verification failure), 2 bad usage or
bad config. Errors print one line; `-v` adds the traceback. The arguments each command takes
are declared in `cli_parser`.
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

from tfpipeline.cli_parser import DEFAULT_INIT_NAME, build_parser
from tfpipeline.errors import (
    ConfigError,
    DataError,
    TfpipelineError,
    UnsupportedModelError,
    VerificationError,
)
from tfpipeline.quiet import quiet_tensorflow

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


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
        # A fresh command quiets TensorFlow before loading it; called from a program that
        # already loaded TensorFlow (main() in-process), it leaves that program's stderr be.
        if "tensorflow" not in sys.modules:
            quiet_tensorflow()
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

        x = prepare_data(config.data, text=config.model.text).splits.test.arrays()[0]
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
    from tfpipeline.pipeline import Pipeline

    quiet_fit = 0 if (args.quiet or args.json) else None  # no Keras bars on stdout then
    pipeline = Pipeline(config, log=_progress(args), verbose=quiet_fit)
    try:
        manifest = pipeline.run(args.output, overwrite=args.overwrite)
    except VerificationError:
        if args.json and pipeline.record is not None:  # the failed run's manifest, still
            print(json.dumps(pipeline.record.to_dict(), indent=2))
        raise
    if args.json:
        print(json.dumps(manifest, indent=2))
    elif not args.quiet:
        print(f"\ndone in {manifest['duration_s']:.1f} s: {manifest['run_name']}")
    return EXIT_OK
