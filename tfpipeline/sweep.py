"""The compression sweep: train once, try a grid of techniques and strengths, keep the best.

Every figure is measured on the exported `.tflite` in the LiteRT interpreter. The chosen
variant is the smallest (gzip size) whose validation accuracy is within the tolerance of the
uncompressed model's float32 `.tflite`. The choice is made on the validation split only; the
test split stays held out, so the test figures reported for the chosen variant are not biased
in its favour by the choice (choosing the best of 61 variants by their test accuracy would
be).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tfpipeline._atomic import remove_path, write_bytes_atomic
from tfpipeline._keras import keras, releasing_traced_gradients
from tfpipeline._model_check import require_tf_keras_model
from tfpipeline.compress import compress_model, overall_sparsity
from tfpipeline.config import CompressConfig, PipelineConfig, dump_config
from tfpipeline.errors import ConfigError
from tfpipeline.export.plan import ExportSettings, ExportTarget
from tfpipeline.inference import load_predictor
from tfpipeline.record import size_ratios
from tfpipeline.report import file_stats
from tfpipeline.run_folder import (
    ANDROID_DIR,
    check_own_folder,
    new_timestamped_dir,
    remove_leftovers,
    run_lock,
)
from tfpipeline.stages.data import data_stage
from tfpipeline.stages.log import StageLog
from tfpipeline.stages.model import model_stage
from tfpipeline.stages.seed import seed_run
from tfpipeline.stages.train import train_stage
from tfpipeline.stages.verify import measure
from tfpipeline.sweep_bundle import BUNDLE_DIR, bundle_variant
from tfpipeline.sweep_grid import Recipe, SweepGrid, file_stem, variant_name
from tfpipeline.sweep_report import (
    SWEEP_CONFIG,
    SWEEP_CSV,
    SWEEP_PLOT,
    SWEEP_RECORD,
    SWEEP_TABLE,
    sweep_table,
    write_sweep_outputs,
)
from tfpipeline.training import predict_probabilities

VARIANTS_DIR = "variants"  # every variant's .tflite
SELECT_BY = "val_accuracy"  # the one figure a variant is chosen by (never the test split's)


@dataclass(frozen=True)
class SweepResult:
    """What a sweep found.

    Attributes:
        run_dir: the folder holding the table, plot, record and every `.tflite`.
        rows: one dict per exported variant (name, techniques, sizes, ratios, accuracy on
            the validation split (`val_accuracy`, `val_accuracy_change_points`) and on the
            test split (`test_accuracy`, `accuracy_change_points`, `top1_agreement`, ...),
            latency, sparsity, distinct values, Pareto flag (judged on validation)).
        baseline: the row of the uncompressed model's float32 `.tflite`.
        chosen: the smallest row within the tolerance on the validation split (the baseline
            at worst); its test figures are the held-out estimate.
        max_accuracy_drop: the tolerance, in accuracy points.
        bundle: the verified folder made from the chosen variant (`chosen/`: its
            `.tflite`, `labels.txt`, `manifest.json` and the Android bundle), or `None`.
        split_sizes: samples in each split (`train`, `val`, `test`), or `None`.
    """

    run_dir: Path
    rows: list[dict[str, Any]]
    baseline: dict[str, Any]
    chosen: dict[str, Any]
    max_accuracy_drop: float = field(default=1.0)
    bundle: Path | None = None
    split_sizes: dict[str, int] | None = None


@releasing_traced_gradients()  # many fine-tunes: their graphs go with the sweep
def compress_sweep(
    config: PipelineConfig,
    output_dir: str | Path | None = None,
    *,
    grid: SweepGrid | None = None,
    max_accuracy_drop: float = 1.0,
    x: Any = None,
    y: Any = None,
    model: keras.Model | None = None,
    log: Callable[[str], None] = print,
    verbose: int | None = 0,
    bundle: bool = False,
) -> SweepResult:
    """Trains the model once, then compresses, exports and measures every variant of `grid`.

    Each technique is fine-tuned with its `compress.*` settings (epochs, learning rate,
    layers to skip) from `config`; the grid sets the strengths.

    Args:
        config: the validated configuration (data, model and training as for a run).
        output_dir: the sweep folder; `None` means `saved_models/sweep-<timestamp>`. A
            folder that already holds a sweep, or files tfpipeline did not write, is
            refused; the folder of a killed sweep starts clean. Defaults to `None`.
        grid: the variants to try. Defaults to `SweepGrid()`.
        max_accuracy_drop: accuracy points (percent) a variant may lose against the
            uncompressed float32 `.tflite` on the validation split and still be chosen.
            Defaults to `1.0`.
        x: features, for `data.source: arrays`. Defaults to `None`.
        y: labels, for `data.source: arrays`. Defaults to `None`.
        model: your own tf_keras model, trained as `model.kind: custom`. Defaults to `None`.
        log: where progress lines go. Defaults to `print`.
        verbose: Keras verbosity of the fits. Defaults to `0`.
        bundle: also turn the chosen variant into a folder to ship, `chosen/` (see
            `SweepResult.bundle`), verified against its own compressed Keras model with the
            `verify.*` thresholds of its variant. Defaults to `False`.

    Returns:
        The rows, the baseline, the chosen variant and the folder they were written to.
        Each variant is measured on the validation split (to choose) and on the test split
        (held out, to report).

    Raises:
        ConfigError: for a regression data set (the sweep ranks by accuracy), no validation
            split (`data.split.val: 0`; the sweep chooses on it), a negative tolerance, or a
            folder that already holds a sweep.
        VerificationError: with `bundle`, if the chosen file misses a threshold of its
            variant (nothing is bundled then).
    """
    grid = grid or SweepGrid()
    if not 0 <= max_accuracy_drop <= 100:
        raise ConfigError(
            "`max_accuracy_drop` must be in [0, 100] accuracy points. "
            f"Received: max_accuracy_drop={max_accuracy_drop}"
        )
    if config.data.task != "classification":
        raise ConfigError(
            "compress-sweep ranks variants by accuracy, so it needs `data.task: "
            f"classification`. Received: data.task={config.data.task!r}"
        )
    if config.data.split.val == 0:
        raise ConfigError(
            "compress-sweep chooses among the variants on the validation split (the test split "
            "stays held out), so it needs `data.split.val` > 0. "
            f"Received: data.split.val={config.data.split.val}"
        )
    run_dir = _sweep_dir(output_dir)
    with run_lock(run_dir):  # one process per sweep folder; judged again once held
        _sweep_dir(run_dir)
        _start_clean(run_dir)
        options = _SweepOptions(grid, max_accuracy_drop, bundle, StageLog(log, verbose, False))
        return _sweep(config, run_dir, options, x, y, model)


@dataclass(frozen=True)
class _SweepOptions:
    grid: SweepGrid
    max_accuracy_drop: float
    bundle: bool
    log: StageLog


def _sweep(config: PipelineConfig, run_dir: Path, options: _SweepOptions, x, y, model):
    started = time.perf_counter()
    log = options.log
    seed_run(config.train, clear_session=model is None)
    data = data_stage(config.data, x, y, log)
    x_val, y_val = data.splits.val.arrays()
    if len(y_val) == 0:
        raise ConfigError(
            "compress-sweep chooses among the variants on the validation split, and it is "
            f"empty. Received: split sizes {data.splits.sizes()}; raise `data.split.val`."
        )
    custom = require_tf_keras_model(model, "compress_sweep", bridge=True) if model else None
    base = model_stage(config.model, config.train, data, custom, log=log)
    trained = train_stage(config.train, base, data, None, log)
    write_bytes_atomic(run_dir / SWEEP_CONFIG, dump_config(config).encode("utf-8"))
    log.line(f"sweep folder: {run_dir}")
    models: dict[Recipe, tuple[keras.Model, list]] = {(): (base, [])}
    rows, made_by = _measure_variants(config, options, data, trained.outputs, models, run_dir)
    baseline = rows[0]
    for row in rows:
        row.update(size_ratios(baseline, row))
        # negative: points lost against the uncompressed float32 .tflite; positive: gained.
        # `val_`: on the validation split, which chooses; the other: on the test split.
        row["val_accuracy_change_points"] = 100 * (row["val_accuracy"] - baseline["val_accuracy"])
        row["accuracy_change_points"] = 100 * (row["test_accuracy"] - baseline["test_accuracy"])
    _mark_pareto_front(rows)
    chosen = choose_variant(rows, baseline, options.max_accuracy_drop)
    folder = None
    if options.bundle:
        recipe, int8_input = made_by[rows.index(chosen)]
        model = models[recipe][0]
        reference = predict_probabilities(model, data.splits.test.arrays()[0])
        folder = bundle_variant(
            chosen, run_dir, data, config, reference, int8_input, log.write, model
        )
    sizes = data.splits.sizes()
    result = SweepResult(run_dir, rows, baseline, chosen, options.max_accuracy_drop, folder, sizes)
    write_sweep_outputs(result, config, time.perf_counter() - started)
    _log_result(log, result)
    return result


def _measure_variants(config, options: _SweepOptions, data, reference, models, run_dir: Path):
    """Exports every variant of the grid with the export plan's targets and measures each
    on the test split (held out) and the validation split (which chooses)."""
    grid, started = options.grid, time.perf_counter()
    x_val, y_val = data.splits.val.arrays()
    recipes = grid.recipes()
    total = sum(len(grid.exports(r)) for r in recipes)
    rows: list[dict[str, Any]] = []
    made_by: list[tuple[Recipe, Any]] = []  # each row's recipe and int8 input
    for recipe in recipes:
        compressed, _ = _compressed_model(recipe, models, data, config, options.log.verbose)
        variants = grid.exports(recipe)
        settings = ExportSettings.for_model(compressed, data, config.export, variants)
        for variant in variants:
            target = ExportTarget.tflite(variant, f"{file_stem(recipe)}_{variant}.tflite")
            path = target.export(compressed, run_dir / VARIANTS_DIR, settings)
            figures = measure(path, data, reference, config.verify, variant=variant)
            figures = {"val_accuracy": _accuracy(path, x_val, y_val), **figures}  # val chooses
            rows.append(_row(recipe, target, path, run_dir, figures, models[recipe]))
            made_by.append((recipe, settings.int8_input))
            _log_progress(options.log.write, rows, total, started)
    return rows, made_by


def _log_result(log: StageLog, result: SweepResult) -> None:
    chosen, sizes, run_dir = result.chosen, result.split_sizes, result.run_dir
    log.line()
    log.line(sweep_table(result.rows, chosen))
    log.line()
    log.line(
        f"chosen: {chosen['name']}: {chosen['gzip_compression_ratio']:.1f}x smaller gzipped "
        f"than the float32 .tflite; chosen on the validation split ({sizes['val']} samples): "
        f"accuracy {chosen['val_accuracy']:.4f} "
        f"({_points(chosen['val_accuracy_change_points'])}; tolerance "
        f"{result.max_accuracy_drop:g} lost); held-out test split ({sizes['test']} samples): "
        f"accuracy {chosen['test_accuracy']:.4f} ({_points(chosen['accuracy_change_points'])})"
    )
    log.line(f"table {run_dir / SWEEP_TABLE}, plot {run_dir / SWEEP_PLOT}")
    if result.bundle is not None:
        log.line(
            f"bundle: {result.bundle} (verified; Android bundle in {result.bundle / ANDROID_DIR})"
        )


def choose_variant(
    rows: Sequence[dict[str, Any]], baseline: dict[str, Any], max_accuracy_drop: float
) -> dict[str, Any]:
    """Returns the row with the smallest gzip size among those within the tolerance.

    The choice reads the validation accuracy only (`val_accuracy`), never `test_accuracy`:
    the test split stays held out, so the chosen row's test figure is an unbiased estimate.

    Args:
        rows: the measured variants (each with `gzip_bytes` and `val_accuracy`).
        baseline: the row accuracy is compared with.
        max_accuracy_drop: accuracy points a chosen row may lose against `baseline`.

    Returns:
        The chosen row (`baseline` itself when nothing smaller keeps its accuracy).

    Raises:
        ValueError: if a row has no `val_accuracy`.
    """
    missing = [
        row.get("name", i) for i, row in enumerate([baseline, *rows]) if SELECT_BY not in row
    ]
    if missing:
        raise ValueError(
            f"choose_variant chooses on the validation split: every row needs `{SELECT_BY}`. "
            f"Received rows without it: {', '.join(map(str, missing[:5]))}"
        )
    floor = baseline[SELECT_BY] - max_accuracy_drop / 100 - 1e-9
    within = [row for row in rows if row[SELECT_BY] >= floor]
    return min(within, key=lambda row: (row["gzip_bytes"], -row[SELECT_BY]))


def _compressed_model(recipe: Recipe, models: dict, data, config: PipelineConfig, verbose):
    """The recipe's model, built on the cached model of its longest prefix."""
    if recipe in models:
        return models[recipe]
    parent, parent_steps = _compressed_model(recipe[:-1], models, data, config, verbose)
    technique, strength = recipe[-1]
    done = [t for t, _ in recipe[:-1]]
    settings = dataclasses.replace(getattr(config.compress, technique), enabled=True)
    if technique == "prune":
        settings = dataclasses.replace(settings, sparsity=strength, sparsity_m_by_n=None)
    elif technique == "cluster":
        settings = dataclasses.replace(settings, clusters=strength)
    # Only the last technique runs, on the parent model; `after` names what came before, so
    # that it preserves the parent's sparsity or clusters.
    step_config = CompressConfig(order=[technique], **{technique: settings})
    result = compress_model(parent, data, step_config, config.train, verbose=verbose, after=done)
    models[recipe] = (result.model, [*parent_steps, *result.steps])
    return models[recipe]


def _accuracy(path: Path, x, y) -> float:
    """The `.tflite`'s accuracy on `(x, y)`, run in LiteRT."""
    return float(np.mean(load_predictor(path).predict(x).argmax(axis=-1) == y))


def _points(change: float) -> str:
    return f"{abs(change):.2f} points {'lost' if change < 0 else 'gained'}"


def _row(recipe: Recipe, target: ExportTarget, path: Path, run_dir: Path, figures, made) -> dict:
    """A variant's row: its recipe, file, sizes, validation and test figures, and what
    compression left in the kernels of its model (`made`: the model and its steps)."""
    model, steps = made
    last = steps[-1] if steps else None
    return {
        "name": variant_name(recipe, target.variant),
        "techniques": [t for t, _ in recipe],
        "sparsity_target": next((s for t, s in recipe if t == "prune"), None),
        "clusters": next((c for t, c in recipe if t == "cluster"), None),
        "qat": any(t == "qat" for t, _ in recipe),
        "tflite": target.variant,
        "path": str(path.relative_to(run_dir)),
        **{k: v for k, v in file_stats(path).items() if k != "sha256"},
        **figures,
        "overall_sparsity": overall_sparsity(model),
        "unique_weights": last.unique_weights if last else None,
        "fine_tuning_epochs": sum(step.fine_tuning.epochs_run for step in steps),
    }


def _mark_pareto_front(rows: list[dict[str, Any]]) -> None:
    """Marks the rows no other row beats on both gzip size and validation accuracy (a front
    is a shortlist to choose from, so it is drawn on the split that chooses)."""
    best = -1.0
    for row in sorted(rows, key=lambda r: (r["gzip_bytes"], -r[SELECT_BY])):
        row["pareto"] = row[SELECT_BY] > best
        best = max(best, row[SELECT_BY])


def _log_progress(log, rows: list, total: int, started: float) -> None:
    done = len(rows)
    elapsed = time.perf_counter() - started
    left = elapsed / done * (total - done)
    row = rows[-1]
    log(
        f"[{done}/{total}] {row['name']}: gzip {row['gzip_bytes'] / 1024:.1f} KiB, "
        f"accuracy val {row['val_accuracy']:.4f} / test {row['test_accuracy']:.4f} "
        f"({elapsed:.0f} s, about {left:.0f} s left)"
    )


# What a sweep writes in its folder besides its config (anything else is the user's).
SWEEP_NAMES = (VARIANTS_DIR, BUNDLE_DIR, SWEEP_RECORD, SWEEP_TABLE, SWEEP_CSV, SWEEP_PLOT)


def _sweep_dir(output_dir: str | Path | None) -> Path:
    if output_dir is None:
        return new_timestamped_dir("sweep-")
    run_dir = Path(output_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"Output path exists and is not a folder: {run_dir}")
    if (run_dir / SWEEP_RECORD).exists():
        raise ConfigError(
            f"Output folder {run_dir} already holds a sweep ({SWEEP_RECORD}); choose another "
            "--output folder so that nothing of it is overwritten."
        )
    if run_dir.is_dir():
        check_own_folder(run_dir, SWEEP_CONFIG, SWEEP_NAMES)
    return run_dir


def _start_clean(run_dir: Path) -> None:
    """Removes what a killed sweep left in its folder: a sweep starts afresh, so that no
    variant of the earlier one is mixed with the new ones."""
    remove_leftovers(run_dir)
    for name in (*SWEEP_NAMES, SWEEP_CONFIG):
        remove_path(run_dir / name)
