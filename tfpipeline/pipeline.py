"""The pipeline: composes the stages in order and owns the run folder."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gc
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tfpipeline import __version__
from tfpipeline._atomic import remove_path, replace_folder, write_bytes_atomic
from tfpipeline._keras import keras, releasing_traced_gradients, require_tf_keras_model, tf
from tfpipeline.benchmark import benchmark_keras
from tfpipeline.bridge import is_keras3_model
from tfpipeline.callbacks import TRAINING_STATE
from tfpipeline.compress import compress_model, overall_sparsity
from tfpipeline.config import PipelineConfig, dump_config
from tfpipeline.data import PreparedData, prepare_data
from tfpipeline.data.input_spec import describe_input
from tfpipeline.data.sources import ArraySamples
from tfpipeline.distribute import (
    as_float32,
    is_chief,
    lost_workers,
    make_strategy,
    replicas,
    training_scope,
    worker_text,
)
from tfpipeline.errors import ConfigError, VerificationError
from tfpipeline.evaluation import baseline_scores, classification_report, plot_confusion_matrix
from tfpipeline.export import (
    check_artifact,
    export_onnx,
    export_saved_model,
    export_tflite,
    measure_artifact,
    optimize_onnx,
    quantize_onnx,
)
from tfpipeline.export.android import ANDROID_DIR, write_android_bundle
from tfpipeline.export.diagnosis import diagnose_quantization
from tfpipeline.export.int8_input import plan_int8_input
from tfpipeline.export.tflite import float_ops, tflite_ops
from tfpipeline.models import build_model
from tfpipeline.report import (
    artifact_table,
    file_stats,
    library_versions,
    write_manifest,
    write_report,
)
from tfpipeline.report_html import write_html_report
from tfpipeline.run_folder import (
    RUN_CONFIG,
    STAGING,
    choose_run_dir,
    overwrite_dir,
    promote,
    remove_leftovers,
    run_lock,
    save_keras,
)
from tfpipeline.training import TrainingError, evaluate, predict_probabilities, score, train

CONFUSION_MATRIX = "confusion_matrix.png"
DIAGNOSIS_SAMPLES = 200  # test samples a failed quantized artifact's layers are measured on
INTEGER_VARIANTS = ("int8", "dynamic", "int16x8")
KERAS_FILE = "model.keras"
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
        self.run_dir: Path | None = None  # the folder of the latest run, once chosen

    def run(
        self,
        output_dir: str | Path | None = None,
        *,
        x: Any = None,
        y: Any = None,
        model: Any = None,
        overwrite: bool = False,
    ) -> dict[str, Any]:
        """Runs every stage and writes the run folder.

        Seeds Python's, NumPy's and TensorFlow's random generators with `train.seed` first
        (and turns on TensorFlow's op determinism with `train.deterministic`), so that the
        same config gives the same run. The run folder is created only once the data is
        loaded and split, so bad data leaves nothing behind. A run folder left by a killed
        run (no manifest) is resumed: training goes on from its last finished epoch. Without
        `output_dir`, the newest unfinished run of the same configuration in `saved_models/`
        is resumed.

        With `train.distribute: multi_worker`, every worker calls this with the same
        `output_dir` (on storage they all see): the chief writes the run there; the other
        workers train in step with it, writing to a temporary folder, and return once
        training ends.

        Args:
            output_dir: the run folder; `None` means `saved_models/<timestamp>` (not allowed
                for multi-worker training). A folder that already holds a finished run (a
                `manifest.json`), files tfpipeline did not write, or a killed run of a
                config that differs in `data`, `model` or `train` is refused, and so is a
                folder another process is running in. Defaults to `None`.
            x: features, for `data.source: arrays`. Defaults to `None`.
            y: labels, for `data.source: arrays`. Defaults to `None`.
            overwrite: replace a finished (or killed) run in `output_dir`. The new run is
                written beside it (`.tfpipeline-<name>.new`) and takes its place only once it
                has passed verification, so a crashed or failed run leaves the old one as it
                was. Defaults to `False`.
            model: your own tf_keras model, for `model.kind: custom`; it is trained,
                compressed and exported as it is (so it must take raw inputs, or hold its
                own normalization). Defaults to `None`.

        Returns:
            The manifest, as written to `manifest.json`; on a multi-worker run's other
            workers, `{"status": "trained", "run_name", "worker", "duration_s", "training"}`.

        Raises:
            ConfigError: if `output_dir` cannot be used (see above), or a setting does not
                fit the data.
            DataError: for data that cannot be used.
            TrainingError: if the loss becomes NaN, or a worker of a multi-worker run stops
                answering (start every worker again: training resumes).
            VerificationError: if an artifact misses a threshold; the manifest and report are
                written first, with `status: failed`.
        """
        started = time.perf_counter()
        custom = self._check_custom(model)
        if self.config.train.distribute == "multi_worker" and output_dir is None:
            raise ConfigError(
                "`train.distribute: multi_worker` needs --output (`output_dir`): the same "
                "folder on every worker, on storage they all see. The chief writes the run "
                "there; the other workers read its crash-safe training state from it."
            )
        config_text = dump_config(self.config)
        final_dir = choose_run_dir(output_dir, config_text, overwrite)
        strategy = make_strategy(self.config.train)  # refused here, before any work
        chief = is_chief(strategy)
        shared_state = None
        with releasing_traced_gradients(), contextlib.ExitStack() as stack:
            if chief:  # one process per run folder; its state is judged again once held
                stack.enter_context(run_lock(final_dir))
                choose_run_dir(final_dir, config_text, overwrite)
            run_dir = final_dir
            if overwrite and (final_dir / RUN_CONFIG).exists():
                run_dir = overwrite_dir(final_dir)
                if chief:
                    remove_path(run_dir)  # a crashed earlier attempt's (or a planted link)
            if not chief:
                # Another worker: it trains in step with the chief, reading the chief's
                # crash-safe state and writing its own files to a temporary folder; only the
                # chief writes the run.
                shared_state = run_dir / TRAINING_STATE
                run_dir = Path(
                    stack.enter_context(tempfile.TemporaryDirectory(prefix="tfpipeline-worker-"))
                )
            return self._run(
                started,
                config_text,
                run_dir,
                final_dir,
                strategy,
                model,
                custom,
                x,
                y,
                shared_state,
            )

    def _run(
        self,
        started: float,
        config_text: str,
        run_dir: Path,
        final_dir: Path,
        strategy,
        model_given,
        custom,
        x: Any,
        y: Any,
        shared_state: Path | None = None,
    ) -> dict:
        self.run_dir = run_dir
        if model_given is None:  # release the graphs of earlier runs in this process
            keras.backend.clear_session()
            gc.collect()
        keras.utils.set_random_seed(self.config.train.seed)
        if self.config.train.deterministic:
            tf.config.experimental.enable_op_determinism()

        data = self._data_stage(x, y)
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            remove_leftovers(run_dir)  # a killed run's temporary files, never its artifacts
        except OSError as exc:
            raise ConfigError(
                f"Cannot create the run folder {run_dir}: {exc.strerror or exc}. Choose a "
                "writable --output folder."
            ) from None
        self.log(f"      run folder: {run_dir}")
        x_test, y_test = data.splits.test.arrays()
        with training_scope(self.config.train, strategy):
            model = self._model_stage(data, custom, strategy)
            # Written once the model is built: a config refused so far leaves no run behind.
            write_bytes_atomic(run_dir / RUN_CONFIG, config_text.encode("utf-8"))
            if data.class_names:
                labels = "\n".join(data.class_names) + "\n"
                write_bytes_atomic(run_dir / "labels.txt", labels.encode("utf-8"))
            training, outputs, keras_scores = self._train_stage(
                model, data, x_test, run_dir, strategy, shared_state
            )
        if shared_state is not None:  # another worker: its part is done, the chief does the rest
            self.log(f"      trained in step with the chief, which writes the run to {final_dir}")
            return {
                "status": "trained",
                "run_name": final_dir.name,
                "worker": worker_text(strategy),
                "duration_s": round(time.perf_counter() - started, 2),
                "training": training,
            }
        # Exports are float32 whatever the training policy, and hold no distributed variables.
        model = as_float32(model, copy=strategy is not None)
        evaluation = self._evaluate(outputs, keras_scores, data, y_test, run_dir)
        trained = model
        model, compression = self._compress_stage(model, data, x_test, y_test, keras_scores)
        paths, int8_input = self._export_stage(model, trained, data, run_dir)
        uncompressed = outputs if compression else None
        artifacts, failures = self._verify_stage(
            model,
            data,
            x_test,
            y_test,
            run_dir,
            paths,
            uncompressed,
            evaluation["baseline"],
            int8_input,
        )
        _add_compression_ratios(artifacts, (compression or {}).get("baseline_float32_tflite"))
        keras_latency = benchmark_keras(
            model, x_test, runs=min(50, self.config.verify.latency_runs)
        )
        android = self._android_stage(data, run_dir, artifacts, int8_input)

        manifest = {
            "tfpipeline_version": __version__,
            "run_name": final_dir.name,
            "status": "failed" if failures else "passed",
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "duration_s": round(time.perf_counter() - started, 2),
            "config": self.config.to_dict(),
            "versions": library_versions(),
            "model_source": _model_source(model_given),
            "data": data.summary(),
            "training": training,
            **{f"keras_test_{name}": value for name, value in keras_scores.items()},
            "evaluation": evaluation,
            "compression": compression,
            "int8_input": int8_input.to_dict() if int8_input else None,
            "artifacts": artifacts,
            "keras_latency": keras_latency,
            "android": android,
            "failures": failures,
        }
        self._report_stage(run_dir, manifest)
        if run_dir != final_dir and not failures:  # --overwrite: a passed run replaces it
            replace_folder(run_dir, final_dir)
            self.run_dir = final_dir
        elif run_dir != final_dir:
            self.log(f"      kept the earlier run in {final_dir}; this failed run is in {run_dir}")
        if failures:
            raise VerificationError(failures)
        return manifest

    def _stage(self, number: int, name: str, text: str) -> None:
        self.log(f"[{number}/{STAGES}] {name}: {text}")

    def _data_stage(self, x: Any, y: Any) -> PreparedData:
        config = self.config.data
        what = {"builtin": config.name, "arrays": "arrays"}.get(config.source, config.path)
        self._stage(1, "data", f"{config.source} {what}")
        data = prepare_data(config, x, y)
        sizes = data.splits.sizes()
        self.log(f"      {data.name}: {data.cleaning['summary']}")
        for kind, examples in data.cleaning["examples"].items():
            self.log(f"      {kind.replace('_', ' ')}: {', '.join(map(str, examples))}")
        self.log(
            f"      {data.task}, features {data.feature_shape}, "
            + (f"{len(data.class_names)} classes, " if data.class_names else "")
            + "split "
            + " / ".join(f"{k} {v}" for k, v in sizes.items())
        )
        if data.encoding is not None:
            self.log(f"      input: {data.encoding.summary()}")
        if "labels" in data.cleaning:
            self.log(f"      labels: {data.cleaning['labels']}")
        return data

    def _check_custom(self, model: Any):
        custom = self.config.model.kind == "custom"
        if custom and model is None:
            raise ConfigError(
                "`model.kind: custom` needs your model: `Pipeline(config).run(model=...)`."
            )
        if model is not None and not custom:
            raise ConfigError(
                "A model was given but `model.kind` is "
                f"{self.config.model.kind!r}; set `model.kind: custom` to train it."
            )
        if not custom:
            return None
        if is_keras3_model(model):
            self.log("      Keras 3 model: rebuilt as tf_keras by the bridge (outputs checked)")
        return require_tf_keras_model(model, "Pipeline.run", bridge=True)

    def _model_stage(self, data: PreparedData, custom, strategy=None):
        if custom is not None:
            self._stage(2, "model", f"custom {custom.name}, {custom.count_params():,} parameters")
            replaced = _compile_replaced(custom, self.config.train, data.task)
            if replaced:
                self.log(f"      {replaced}")
            if strategy is not None:  # its variables must be made in the strategy's scope
                copy = keras.models.clone_model(custom)
                copy.set_weights(custom.get_weights())
                return copy
            return custom
        model = build_model(self.config.model, data, seed=self.config.train.seed)
        widths = " -> ".join(str(u) for u in self.config.model.hidden_units)
        output = f"{data.num_outputs} softmax" if data.class_names else "1 linear"
        blocks = f"conv {self.config.model.filters} -> " if self.config.model.kind == "cnn" else ""
        self._stage(
            2,
            "model",
            f"{model.name}: {data.normalization} normalization -> {blocks}{widths} "
            f"{self.config.model.activation} -> {output}, {self.config.model.initializer} init, "
            f"{model.count_params():,} parameters",
        )
        return model

    def _train_stage(
        self, model, data: PreparedData, x_test, run_dir: Path, strategy=None, shared_state=None
    ):
        config = self.config.train
        self._stage(
            3,
            "train",
            f"{config.optimizer}, {config.schedule.kind} schedule, up to {config.epochs} epochs",
        )
        if strategy is not None:
            count = replicas(strategy)
            if config.scale_lr_with_replicas:
                config = dataclasses.replace(config, learning_rate=config.learning_rate * count)
            self.log(
                f"      {config.distribute}: {count} replicas, global batch {config.batch_size} "
                f"({config.batch_size / count:g} per replica), learning rate "
                f"{config.learning_rate:g}"
            )
            worker = worker_text(strategy)
            if worker:
                files = not isinstance(data.splits.train.samples, ArraySamples)
                share = "its share of the files" if files else "its share of every batch"
                self.log(f"      this is {worker}; each worker reads {share}")
        if config.mixed_precision != "none":
            self.log(f"      {config.mixed_precision} policy (output layer float32)")
        try:
            result = train(
                model,
                data,
                config,
                run_dir=run_dir,
                verbose=self.verbose,
                shared_state=shared_state,
            )
        except tf.errors.UnavailableError as exc:  # multi-worker: a peer died or never came
            raise TrainingError(
                f"Training stopped: {lost_workers(exc)} stopped answering. Start every worker "
                "again with the same command; training resumes after the last finished epoch."
            ) from None
        if result.resumed_from_epoch:
            self.log(f"      resumed after epoch {result.resumed_from_epoch}")
        outputs = predict_probabilities(model, x_test)  # scored once, evaluated once
        scores = score(outputs, data.splits.test.y, data.task)
        stop = "stopped early" if result.stopped_early else "ran all epochs"
        self.log(
            f"      {result.epochs_run} epochs ({stop}), best epoch {result.best_epoch}, "
            f"test {_scores_text(scores)}"
        )
        return result.to_dict(), outputs, scores

    def _evaluate(self, outputs, scores, data: PreparedData, y_test, run_dir: Path):
        baseline = baseline_scores(data.splits.train.y, y_test, data.task, data.class_names)
        shown = {k: v for k, v in baseline.items() if k not in ("kind", "value", "mse")}
        self.log(f"      baseline ({baseline['kind']}): test {_scores_text(shown)}")
        if not _beats(scores, baseline):
            self.log(
                f"      warning: the model is no better than the baseline ({baseline['kind']}) "
                "on the test split"
            )
        if data.task != "classification":
            return {**scores, "baseline": baseline}
        evaluation = classification_report(outputs, y_test, data.class_names)
        plot_confusion_matrix(evaluation, run_dir / CONFUSION_MATRIX)
        return {**evaluation, "baseline": baseline}

    def _compress_stage(self, model, data: PreparedData, x_test, y_test, trained_scores):
        config = self.config.compress
        techniques = config.techniques()
        if not techniques:
            self._stage(4, "compress", "no technique enabled, exporting the trained model")
            return model, None
        self._stage(4, "compress", " -> ".join(_technique_text(config, t) for t in techniques))
        baseline = _float32_tflite_stats(model)
        result = compress_model(
            model, data, config, self.config.train, verbose=self.verbose, log=self.log
        )
        scores = evaluate(result.model, x_test, y_test, data.task)
        self.log(f"      compressed model: test {_scores_text(scores)}")
        cost = _compression_cost(trained_scores, scores)
        if cost:
            self.log(f"      warning: {cost}")
        compression = {
            "techniques": list(techniques),
            "steps": [step.to_dict() for step in result.steps],
            "sparsity": result.steps[-1].sparsity,
            "overall_sparsity": overall_sparsity(result.model),
            "unique_weights": result.steps[-1].unique_weights,
            **{f"test_{name}": value for name, value in scores.items()},
            "baseline_float32_tflite": baseline,
        }
        if config.prune.enabled:  # the pruning figures, where earlier runs had them
            compression["prune"] = {
                "target_sparsity": _target_sparsity(config.prune),
                "sparsity": result.steps[-1].sparsity,
                "overall_sparsity": compression["overall_sparsity"],
            }
        return result.model, compression

    def _export_stage(self, model, trained, data: PreparedData, run_dir: Path):
        config = self.config.export
        planned = [("saved_model", "float32", "saved_model")] if config.saved_model else []
        planned += [("tflite", v, f"model_{v}.tflite") for v in config.tflite]
        planned += [("onnx", "float32", "model.onnx")] if config.onnx else []
        planned += [("onnx", "float32", "model_optimized.onnx")] if config.onnx_optimized else []
        planned += [("onnx", "int8", "model_int8.onnx")] if config.onnx_int8 else []
        self._stage(5, "export", ", ".join(name for *_, name in planned) or "nothing to export")
        calibration = None
        if {"int8", "int16x8"} & set(config.tflite):
            calibration = data.splits.calibration_samples(config.calibration_samples)
        int8_input = None
        if "int8" in config.tflite:
            int8_input = plan_int8_input(model, data, config.int8_input, config.int8_io)
            self.log(f"      int8 input {int8_input.dtype}: {int8_input.reason}")
        staging = run_dir / STAGING  # each file moves to run_dir once it has passed
        remove_path(staging)
        staging.mkdir()
        paths = []
        for fmt, variant, name in planned:
            target = staging / name
            if fmt == "saved_model":
                path = export_saved_model(model, target)
            elif fmt == "tflite":
                path = export_tflite(
                    model,
                    target,
                    variant,
                    calibration,
                    config.int8_io,
                    config.allow_flex_ops,
                    float_layers=int8_input.float_layers if variant == "int8" else (),
                )
            elif name == "model.onnx":
                path = export_onnx(model, target, config.onnx_opset)
            elif variant == "int8":
                path = quantize_onnx(staging / "model.onnx", target)
            else:
                path = optimize_onnx(staging / "model.onnx", target)
            self.log(f"      wrote {name}")
            paths.append((fmt, variant, path))
        if config.keras:  # the trained model, before compression, for further training
            save_keras(trained, run_dir / KERAS_FILE)
            self.log(f"      wrote {KERAS_FILE}")
        return paths, int8_input

    def _verify_stage(
        self,
        model,
        data: PreparedData,
        x_test,
        y_test,
        run_dir: Path,
        paths,
        uncompressed,
        baseline: dict,
        int8_input=None,
    ):
        config = self.config.verify
        self._stage(6, "verify", f"{len(paths)} artifacts on {len(y_test)} test samples")
        reference = predict_probabilities(model, x_test)
        artifacts, failures = [], []
        for number, (fmt, variant, path) in enumerate(paths, start=1):
            name = path.name
            figures = measure_artifact(
                path,
                x_test,
                y_test,
                reference,
                config.latency_runs,
                config.latency_warmup,
                task=data.task,
                uncompressed=uncompressed,
                tie_margin=config.tie_margin,
            )
            if "mae" in baseline:  # regression: judged against the mean predictor too
                figures["baseline_test_mae"] = baseline["mae"]
            quantization_aware = self.config.compress.qat.enabled
            problems = check_artifact(name, variant, figures, config, quantization_aware)
            failures += problems
            artifact = {"format": fmt, "variant": variant, "path": name, **file_stats(path)}
            artifact.update(figures)
            if fmt == "tflite":
                ops = tflite_ops(path)
                artifact["ops"] = dict(Counter(op["op"] for op in ops))
                artifact["float_ops"] = float_ops(ops) if variant != "float32" else []
            artifact["passed"] = not problems
            verdict = "FAIL (removed) " + "; ".join(problems) if problems else "ok"
            shown = {
                k: v
                for k, v in figures.items()
                if k.startswith(("test_", "top1", "max_", "uncompressed"))
            }
            self.log(f"      [{number}/{len(paths)}] {name}: {_scores_text(shown)} -> {verdict}")
            if problems and fmt == "tflite" and variant in INTEGER_VARIANTS:
                artifact["diagnosis"] = self._diagnose(model, data, variant, x_test, int8_input)
            if problems:  # the gate: a file that failed never reaches the run folder
                remove_path(path)
                remove_path(run_dir / name)  # nor stays there from an earlier, killed attempt
                artifact["removed"] = True
            else:
                promote(path, run_dir / name)
            artifacts.append(artifact)
        remove_path(run_dir / STAGING)
        return artifacts, failures

    def _diagnose(self, model, data: PreparedData, variant: str, x_test, int8_input) -> dict:
        """Where a quantized artifact's error comes from (logged, and kept in the manifest)."""
        calibration = data.splits.calibration_samples(self.config.export.calibration_samples)
        diagnosis = diagnose_quantization(
            model, data, variant, x_test[:DIAGNOSIS_SAMPLES], int8_input, calibration
        )
        for layer in diagnosis["layers"]:
            self.log(
                f"        {layer['op']} {layer['tensor']}: error {layer['rmse_over_scale']:.2f} "
                "quantization steps (RMSE / scale; about 0.3 is plain rounding)"
            )
        self.log(f"        why: {diagnosis['fix']}")
        return diagnosis

    def _android_stage(
        self, data: PreparedData, run_dir: Path, artifacts, int8_input
    ) -> dict | None:
        config = self.config.export
        if not config.android:
            return None
        variant = config.android_variant or (
            "int8" if "int8" in config.tflite else config.tflite[0]
        )
        artifact = next(a for a in artifacts if a["format"] == "tflite" and a["variant"] == variant)
        if not artifact["passed"]:
            self.log(f"      android: not written, {artifact['path']} failed verification")
            return {"written": False, "variant": variant}
        x_train = data.splits.train.arrays()[0]
        folder = write_android_bundle(
            run_dir / ANDROID_DIR,
            run_dir / artifact["path"],
            variant=variant,
            class_names=data.class_names,
            value_range=(float(x_train.min()), float(x_train.max())),
            figures=artifact,
            task=data.task,
            input_record=describe_input(data),
            int8_input=int8_input.to_dict() if int8_input and variant == "int8" else None,
        )
        files = [artifact["path"], *(["labels.txt"] if data.class_names else []), "model_card.json"]
        self.log(f"      wrote {ANDROID_DIR}/ ({', '.join(files)})")
        return {"written": True, "variant": variant, "path": folder.name}

    def _report_stage(self, run_dir: Path, manifest: dict[str, Any]) -> None:
        write_manifest(run_dir, manifest)
        write_report(run_dir, manifest)
        write_html_report(run_dir, manifest)
        self._stage(
            7, "report", f"{run_dir / 'manifest.json'}, {run_dir / 'report.md'}, report.html"
        )
        self.log("")
        self.log(artifact_table(manifest["artifacts"]))


def _compile_replaced(model, train_config, task: str) -> str | None:
    """What replaces a custom model's own `compile()` settings, said once (or `None`)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    loss = getattr(model, "loss", None)
    loss = getattr(loss, "__name__", None) or getattr(loss, "name", None) or loss
    ours = "sparse categorical cross-entropy" if task == "classification" else "standardized MSE"
    return (
        f"your model's compile() (optimizer {type(optimizer).__name__}, loss {loss}) is "
        f"replaced by the config's: optimizer {train_config.optimizer} at learning rate "
        f"{train_config.learning_rate:g} (train.*), loss {ours} (it fits the labels as the "
        "pipeline encodes them: class indices, or standardized targets)"
    )


def _beats(scores: dict[str, float], baseline: dict) -> bool:
    """Whether test scores beat the baseline's (lower MAE, or higher accuracy)."""
    if "mae" in scores:
        return scores["mae"] < baseline["mae"]
    return scores["accuracy"] > baseline["accuracy"]


def _compression_cost(before: dict[str, float], after: dict[str, float]) -> str | None:
    """A sentence when compression cost more than 2 accuracy points or 10% of the MAE."""
    if "mae" in before and after["mae"] > 1.1 * before["mae"]:
        change = after["mae"] / before["mae"] - 1
        what = f"test MAE from {before['mae']:.4g} to {after['mae']:.4g} (+{change:.0%})"
    elif "accuracy" in before and after["accuracy"] < before["accuracy"] - 0.02:
        what = f"test accuracy from {before['accuracy']:.4f} to {after['accuracy']:.4f}"
    else:
        return None
    return (
        f"compression took the {what}; every exported file is the compressed model. Lower "
        "`compress.prune.sparsity` or raise `compress.prune.epochs` (or turn compression off)"
    )


def _model_source(model) -> str:
    if model is None:
        return "built from config"
    if is_keras3_model(model):
        return "Keras 3 model, rebuilt as tf_keras by the bridge"
    return "tf_keras model given"


def _add_compression_ratios(artifacts: list[dict[str, Any]], baseline: dict | None) -> None:
    """Adds each .tflite file's size ratio to the float32 .tflite, raw and gzipped.

    The baseline is the uncompressed model's float32 .tflite when compression ran, else
    this run's float32 .tflite.
    """
    if baseline is None:
        baseline = next(
            (a for a in artifacts if a["format"] == "tflite" and a["variant"] == "float32"), None
        )
    if baseline is None:
        return
    for artifact in artifacts:
        if artifact["format"] == "tflite":
            artifact["compression_ratio"] = baseline["size_bytes"] / artifact["size_bytes"]
            artifact["gzip_compression_ratio"] = baseline["gzip_bytes"] / artifact["gzip_bytes"]


def _float32_tflite_stats(model) -> dict[str, int]:
    """Raw and gzip size of `model` as a float32 .tflite: the baseline compression is judged by."""
    with tempfile.TemporaryDirectory() as folder:
        return file_stats(export_tflite(model, Path(folder) / "baseline.tflite"))


def _technique_text(config, technique: str) -> str:
    if technique == "prune":
        return f"magnitude pruning to {_target_sparsity(config.prune):.0%} sparsity"
    if technique == "cluster":
        return f"clustering to {config.cluster.clusters} values per kernel"
    return "quantization-aware training"


def _target_sparsity(prune) -> float:
    m_by_n = prune.sparsity_m_by_n
    return m_by_n[0] / m_by_n[1] if m_by_n else prune.sparsity


def _scores_text(scores: dict[str, float]) -> str:
    return ", ".join(f"{name.replace('_', ' ')} {value:.4g}" for name, value in scores.items())
