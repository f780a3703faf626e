"""The pipeline: composes the stages in order and owns the run folder."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tfpipeline import __version__
from tfpipeline._atomic import write_bytes_atomic
from tfpipeline._keras import keras
from tfpipeline.compress import prune
from tfpipeline.config import PipelineConfig
from tfpipeline.data import clean, load_data, split_data
from tfpipeline.errors import ConfigError, VerificationError
from tfpipeline.export import (
    check_artifact,
    export_onnx,
    export_saved_model,
    export_tflite,
    measure_artifact,
)
from tfpipeline.models import build_model
from tfpipeline.report import (
    artifact_table,
    file_stats,
    library_versions,
    write_manifest,
    write_report,
)
from tfpipeline.training import evaluate_accuracy, predict_probabilities, train

DEFAULT_OUTPUT_ROOT = Path("saved_models")
STAGES = 7


class Pipeline:
    """Runs data -> model -> train -> compress -> export -> verify -> report.

    Args:
        config: the validated configuration (see `load_config`).
        log: where progress lines go. Defaults to `print`.
        verbose: Keras verbosity during training; `None` picks a progress bar on a terminal
            and one line per epoch otherwise. Defaults to `None`.
    """

    def __init__(
        self,
        config: PipelineConfig,
        log: Callable[[str], None] = print,
        verbose: int | None = None,
    ):
        self.config = config
        self.log = log
        self.verbose = verbose

    def run(self, output_dir: str | Path | None = None) -> dict[str, Any]:
        """Runs every stage and writes the run folder.

        Args:
            output_dir: the run folder; `None` means `saved_models/<timestamp>`. A folder
                that already holds a finished run (a `manifest.json`) is refused.
                Defaults to `None`.

        Returns:
            The manifest, as written to `manifest.json`.

        Seeds Python's, NumPy's and TensorFlow's random generators with `train.seed` first,
        so that the same config gives the same run.

        Raises:
            ConfigError: if `output_dir` already holds a finished run.
            DataError: if the data cannot be split.
            VerificationError: if an artifact misses a threshold; the manifest and report are
                written first, with `status: failed`.
        """
        started = time.perf_counter()
        run_dir = _prepare_run_dir(output_dir)
        self.log(f"run folder: {run_dir}")
        keras.utils.set_random_seed(self.config.train.seed)

        data, splits = self._data_stage(run_dir)
        model = self._model_stage(splits, len(data["class_names"]))
        training, keras_accuracy = self._train_stage(model, splits)
        model, compression = self._compress_stage(model, splits)
        paths = self._export_stage(model, splits, run_dir)
        artifacts, failures = self._verify_stage(model, splits, run_dir, paths)

        manifest = {
            "tfpipeline_version": __version__,
            "run_name": run_dir.name,
            "status": "failed" if failures else "passed",
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "duration_s": round(time.perf_counter() - started, 2),
            "config": self.config.to_dict(),
            "versions": library_versions(),
            "data": data,
            "training": training,
            "keras_test_accuracy": keras_accuracy,
            "compression": compression,
            "artifacts": artifacts,
            "failures": failures,
        }
        self._report_stage(run_dir, manifest)
        if failures:
            raise VerificationError(failures)
        return manifest

    def _stage(self, number: int, name: str, text: str) -> None:
        self.log(f"[{number}/{STAGES}] {name}: {text}")

    def _data_stage(self, run_dir: Path):
        config = self.config.data
        loaded = load_data(config)
        x, y, cleaning = clean(loaded.x, loaded.y)
        splits = split_data(x, y, config.split, config.seed, loaded.class_names)
        labels = "\n".join(loaded.class_names) + "\n"
        write_bytes_atomic(run_dir / "labels.txt", labels.encode("utf-8"))
        sizes = splits.sizes()
        self._stage(
            1,
            "data",
            f"{loaded.name}: {cleaning.summary()}; split "
            + " / ".join(f"{k} {v}" for k, v in sizes.items()),
        )
        data = {
            "name": loaded.name,
            "features": int(x.shape[1]),
            "num_classes": len(loaded.class_names),
            "class_names": list(loaded.class_names),
            "split_sizes": sizes,
            "cleaning": {**cleaning.to_dict(), "summary": cleaning.summary()},
        }
        return data, splits

    def _model_stage(self, splits, num_classes: int):
        model = build_model(
            self.config.model, splits.x_train, num_classes, seed=self.config.train.seed
        )
        widths = " -> ".join(str(u) for u in self.config.model.hidden_units)
        self._stage(
            2,
            "model",
            f"normalization -> {widths} {self.config.model.activation} -> {num_classes} softmax, "
            f"{self.config.model.initializer} init, {model.count_params():,} parameters",
        )
        return model

    def _train_stage(self, model, splits):
        config = self.config.train
        self._stage(3, "train", f"{config.optimizer}, up to {config.epochs} epochs")
        result = train(model, splits, config, verbose=self.verbose)
        accuracy = evaluate_accuracy(model, splits.x_test, splits.y_test)
        stop = "stopped early" if result.stopped_early else "ran all epochs"
        self.log(
            f"      {result.epochs_run} epochs ({stop}), best epoch {result.best_epoch}, "
            f"test accuracy {accuracy:.4f}"
        )
        return result.to_dict(), accuracy

    def _compress_stage(self, model, splits):
        config = self.config.compress.prune
        if not config.enabled:
            self._stage(4, "compress", "pruning disabled, exporting the trained model")
            return model, None
        self._stage(4, "compress", f"magnitude pruning to {config.sparsity:.0%} sparsity")
        result = prune(model, splits, config, self.config.train, verbose=self.verbose)
        accuracy = evaluate_accuracy(result.model, splits.x_test, splits.y_test)
        measured = np.mean(list(result.sparsity.values()))
        self.log(f"      measured sparsity {measured:.1%}, test accuracy {accuracy:.4f}")
        compression = {
            "prune": {
                "target_sparsity": config.sparsity,
                "sparsity": result.sparsity,
                "test_accuracy": accuracy,
                "fine_tuning": result.fine_tuning.to_dict(),
            }
        }
        return result.model, compression

    def _export_stage(self, model, splits, run_dir: Path) -> list[tuple[str, str, Path]]:
        config = self.config.export
        planned = [("saved_model", "float32")] if config.saved_model else []
        planned += [("tflite", variant) for variant in config.tflite]
        planned += [("onnx", "float32")] if config.onnx else []
        self._stage(5, "export", ", ".join(f"{f} {v}" for f, v in planned) or "nothing to export")
        calibration = splits.x_train[: config.calibration_samples]
        paths = []
        for fmt, variant in planned:
            if fmt == "saved_model":
                path = export_saved_model(model, run_dir / "saved_model")
            elif fmt == "tflite":
                path = export_tflite(
                    model, run_dir / f"model_{variant}.tflite", variant, calibration
                )
            else:
                path = export_onnx(model, run_dir / "model.onnx", config.onnx_opset)
            self.log(f"      wrote {path.relative_to(run_dir)}")
            paths.append((fmt, variant, path))
        return paths

    def _verify_stage(self, model, splits, run_dir: Path, paths):
        config = self.config.verify
        self._stage(6, "verify", f"{len(paths)} artifacts on {len(splits.y_test)} test samples")
        reference = predict_probabilities(model, splits.x_test)
        artifacts, failures = [], []
        for fmt, variant, path in paths:
            name = str(path.relative_to(run_dir))
            figures = measure_artifact(
                path,
                splits.x_test,
                splits.y_test,
                reference,
                config.latency_runs,
                config.latency_warmup,
            )
            problems = check_artifact(name, variant, figures, config)
            failures += problems
            artifacts.append(
                {
                    "format": fmt,
                    "variant": variant,
                    "path": name,
                    **file_stats(path),
                    **figures,
                    "passed": not problems,
                }
            )
            verdict = "FAIL " + "; ".join(problems) if problems else "ok"
            self.log(
                f"      {name}: accuracy {figures['test_accuracy']:.4f}, agreement "
                f"{figures['top1_agreement']:.4f}, max abs diff {figures['max_abs_diff']:.2e} "
                f"-> {verdict}"
            )
        return artifacts, failures

    def _report_stage(self, run_dir: Path, manifest: dict[str, Any]) -> None:
        write_manifest(run_dir, manifest)
        write_report(run_dir, manifest)
        self._stage(7, "report", f"{run_dir / 'manifest.json'}, {run_dir / 'report.md'}")
        self.log("")
        self.log(artifact_table(manifest["artifacts"]))


def _prepare_run_dir(output_dir: str | Path | None) -> Path:
    if output_dir is None:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = DEFAULT_OUTPUT_ROOT / stamp
        suffix = 1
        while run_dir.exists():
            suffix += 1
            run_dir = DEFAULT_OUTPUT_ROOT / f"{stamp}-{suffix}"
    else:
        run_dir = Path(output_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"Output path exists and is not a folder: {run_dir}")
    if (run_dir / "manifest.json").exists():
        raise ConfigError(
            f"Output folder {run_dir} already holds a finished run (manifest.json); "
            "choose another --output folder so that nothing of it is overwritten."
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir
