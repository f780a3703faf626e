"""The pipeline: the only place that knows the order of the stages.

Who owns what:
- `stages/` holds one function per stage (data, model, train, compress, export, verify,
  report); each takes its config section and what the stages before it handed on, logs its
  progress and returns its typed record.
- `record.py` defines the run record, the one definition of `manifest.json`, which the
  reports, the deployment commands and `Predictor` read.
- `run_folder.py` owns the run folder: every file name in it, choosing, locking, resuming
  and replacing it.
- `export/plan.py` owns what is exported (one target per file: format, variant, name, how
  it is made and judged).
- `Pipeline` (here) chooses and holds the run folder, sequences the stages, assembles the
  run record, and replaces an earlier run only once the new one has passed.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfpipeline import __version__
from tfpipeline._atomic import replace_folder
from tfpipeline._keras import releasing_traced_gradients
from tfpipeline.benchmark import benchmark_keras
from tfpipeline.config import PipelineConfig, dump_config
from tfpipeline.distribute import as_float32, is_chief, make_strategy, training_scope, worker_text
from tfpipeline.errors import ConfigError, VerificationError
from tfpipeline.record import DataSummary, RunRecord
from tfpipeline.report import library_versions
from tfpipeline.run_folder import RunFolder, choose_run_dir, hold_run_folder
from tfpipeline.stages.compress import compress_stage
from tfpipeline.stages.data import data_stage
from tfpipeline.stages.export import android_stage, export_stage
from tfpipeline.stages.log import StageLog
from tfpipeline.stages.model import custom_model, model_source, model_stage
from tfpipeline.stages.report import report_stage
from tfpipeline.stages.seed import seed_run
from tfpipeline.stages.train import evaluate_stage, train_stage
from tfpipeline.stages.verify import Judging, verify_stage, with_compression_ratios


@dataclass(frozen=True)
class _Run:
    """One run's setting: where it writes (`folder`: `final`, a sibling while it replaces
    `final`, or a temporary folder on a multi-worker run's other workers, which read the
    chief's `shared_state`), its config text, and what the caller handed in."""

    folder: RunFolder
    final: Path
    config_text: str
    started: float
    log: StageLog
    strategy: Any = None
    shared_state: Path | None = None
    x: Any = None
    y: Any = None
    given: Any = None  # the caller's model, as given
    custom: Any = None  # the caller's model as tf_keras (see `custom_model`)


class Pipeline:
    """Runs data -> model -> train -> compress -> export -> verify -> report.

    Args:
        config: the validated configuration (see `load_config`).
        log: where progress lines go. Defaults to `print`.
        verbose: Keras verbosity during training; `None` picks a progress bar on a terminal
            and one line per epoch otherwise. Defaults to `None`.

    Attributes:
        run_dir: the folder of the latest run, once chosen.
        record: the latest finished run's record (`RunRecord`), also when it failed
            verification.
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
        self.record: RunRecord | None = None  # the latest finished run's record

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
        log = StageLog(self.log, self.verbose)
        custom = custom_model(self.config.model, model, log, "Pipeline.run")
        if self.config.train.distribute == "multi_worker" and output_dir is None:
            raise ConfigError(
                "`train.distribute: multi_worker` needs --output (`output_dir`): the same "
                "folder on every worker, on storage they all see. The chief writes the run "
                "there; the other workers read its crash-safe training state from it."
            )
        config_text = dump_config(self.config)
        final_dir = choose_run_dir(output_dir, config_text, overwrite)
        strategy = make_strategy(self.config.train)  # refused here, before any work
        held = hold_run_folder(final_dir, config_text, overwrite, is_chief(strategy))
        with releasing_traced_gradients(), held as place:
            run = _Run(
                place.folder, final_dir, config_text, started, log, strategy, place.shared_state,
                x, y, model, custom,
            )  # fmt: skip
            return self._run(run)

    def _run(self, run: _Run) -> dict:
        self.run_dir = run.folder.path
        data, model, trained = self._train(run)
        if run.shared_state is not None:  # another worker: the chief does the rest
            run.log.detail(f"trained in step with the chief, which writes the run to {run.final}")
            return {
                "status": "trained",
                "run_name": run.final.name,
                "worker": worker_text(run.strategy),
                "duration_s": round(time.perf_counter() - run.started, 2),
                "training": trained.record.to_dict(),
            }
        # Exports are float32 whatever the training policy, and hold no distributed variables.
        model = as_float32(model, copy=run.strategy is not None)
        record = self._ship(run, data, model, trained)
        report_stage(run.folder, record, run.log)
        self.record = record
        self._finish(run, record.failures)
        return record.to_dict()

    def _train(self, run: _Run):
        """Stages 1-3: data, model, training (the part every worker of a run takes)."""
        config, folder, log = self.config, run.folder, run.log
        seed_run(config.train, clear_session=run.given is None)
        data = data_stage(config.data, run.x, run.y, log, config.model.text)
        folder.create()
        log.detail(f"run folder: {folder.path}")
        with training_scope(config.train, run.strategy):
            model = model_stage(config.model, config.train, data, run.custom, run.strategy, log)
            # Written once the model is built: a config refused so far leaves no run behind.
            folder.write_config(run.config_text)
            folder.write_labels(data.class_names)
            folder.write_vocabulary(data.tokenizer)
            trained = train_stage(
                config.train,
                model,
                data,
                folder.path,
                log,
                run.strategy,
                run.shared_state,
                fine_tune=config.model.fine_tune if config.model.kind == "pretrained" else None,
            )
        return data, model, trained

    def _ship(self, run: _Run, data, model, trained) -> RunRecord:
        """The test evaluation and stages 4-6 (compress, export, verify): the run record."""
        config, folder, log = self.config, run.folder, run.log
        evaluation = evaluate_stage(trained, data, folder.confusion_matrix, log, model)
        shipped, compression = compress_stage(
            config.compress,
            config.train,
            model,
            data,
            trained.scores,
            log,
            pretrained=config.model.kind == "pretrained",
            text=data.is_text,
        )
        exported = export_stage(config.export, shipped, model, data, folder, log)
        judging = Judging(
            uncompressed=trained.outputs if compression else None,
            baseline=evaluation["baseline"],
            quantization_aware=compression is not None and "qat" in compression.techniques,
            calibration_samples=config.export.calibration_samples,
        )
        verified = verify_stage(config.verify, shipped, data, exported, folder, judging, log)
        artifacts = with_compression_ratios(
            verified.artifacts, compression.baseline_float32_tflite if compression else None
        )
        x_test = data.splits.test.arrays()[0]
        keras_latency = benchmark_keras(shipped, x_test, runs=min(50, config.verify.latency_runs))
        int8_input = exported.settings.int8_input
        android = android_stage(config.export, data, folder, artifacts, int8_input, log, shipped)
        return RunRecord(
            tfpipeline_version=__version__,
            run_name=run.final.name,
            status="failed" if verified.failures else "passed",
            created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            duration_s=round(time.perf_counter() - run.started, 2),
            config=config.to_dict(),
            versions=library_versions(),
            model_source=model_source(run.given),
            data=DataSummary.from_dict(data.summary(shipped)),
            training=trained.record,
            keras_test=trained.scores,
            evaluation=evaluation,
            compression=compression,
            int8_input=int8_input.to_dict() if int8_input else None,
            artifacts=artifacts,
            keras_latency=keras_latency,
            android=android,
            failures=verified.failures,
        )

    def _finish(self, run: _Run, failures: list[str]) -> None:
        """Puts a run that replaces an earlier one in its place, once it has passed."""
        replacing = run.folder.path != run.final
        if replacing and not failures:
            replace_folder(run.folder.path, run.final)
            self.run_dir = run.final
        elif replacing:
            run.log.detail(
                f"kept the earlier run in {run.final}; this failed run is in {run.folder.path}"
            )
        if failures:
            raise VerificationError(failures)
