"""The run folder: where a run goes, who holds it, what a killed run left, and replacing a
finished one.

Every name this package gives a temporary file or folder starts with `TEMP_PREFIX`, so that
clean-up removes only what the package made, never a file of the user's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fnmatch
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tfpipeline._atomic import (
    TEMP_PREFIX,
    named_write_errors,
    remove_path,
    replace_folder,
    write_bytes_atomic,
)
from tfpipeline._lock import LOCK
from tfpipeline._lock import run_lock as run_lock  # the folder's lock, part of its life
from tfpipeline._text import listed
from tfpipeline.errors import ConfigError

DEFAULT_OUTPUT_ROOT = Path("saved_models")
# The run folder's layout: every name a run gives a file of its folder is spelled here.
RUN_CONFIG = "run_config.yaml"  # written first: marks the folder as this config's run
MANIFEST = "manifest.json"  # written last: marks the run as finished
LABELS = "labels.txt"  # class names, one per line (also in the Android bundle)
VOCABULARY = "vocab.txt"  # a text model's words, line i = token id i (also in the bundle)
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
CONFUSION_MATRIX = "confusion_matrix.png"
KERAS_FILE = "model.keras"  # the trained model before compression, for further training
ANDROID_DIR = "android"  # the bundle an app ships
SAVED_MODEL = "saved_model"
ONNX_FILE = "model.onnx"  # the optimized and int8 ONNX files are made from this one
ONNX_OPTIMIZED = "model_optimized.onnx"
ONNX_INT8 = "model_int8.onnx"
MODEL_CARD = "model_card.json"  # the Android bundle's description of its model
TRAINING_STATE = "training_state"  # BackupAndRestore's crash-safe state
CHECKPOINTS = "checkpoints"
BEST_CHECKPOINT = Path(CHECKPOINTS) / "best.keras"
CSV_LOG = "training_log.csv"  # one line per epoch
TENSORBOARD = "tensorboard"
FINE_TUNE_DIR = "fine_tune"  # the fine-tuning phase's checkpoints, state and logs
WORKER_PREFIX = "tfpipeline-worker-"  # another worker's temporary folder, outside the run
STAGING = f"{TEMP_PREFIX}staging"  # exports wait here until they have passed verification
# Sections whose work a resumed run keeps; a change to any of them would mix two runs.
RESUMED_SECTIONS = ("data", "model", "train")
# What a run writes in its folder (see docs/guide/run.md, "The run folder"), as shell patterns:
# anything else there is the user's, and a folder holding it is refused rather than replaced.
RUN_NAMES = (
    RUN_CONFIG, MANIFEST, LABELS, VOCABULARY, REPORT_MD, REPORT_HTML, "*.png",
    CSV_LOG, CHECKPOINTS, TRAINING_STATE, TENSORBOARD, FINE_TUNE_DIR,
    SAVED_MODEL, "model*.tflite", "model*.onnx", KERAS_FILE, ANDROID_DIR,
)  # fmt: skip


def tflite_file(variant: str) -> str:
    """The name of a run's `.tflite` file of `variant`."""
    return f"model_{variant}.tflite"


def new_timestamped_dir(prefix: str = "") -> Path:
    """A folder name in saved_models/ that does not exist yet: `<prefix><timestamp>[-n]`."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir, suffix = DEFAULT_OUTPUT_ROOT / f"{prefix}{stamp}", 1
    while run_dir.exists():
        suffix += 1
        run_dir = DEFAULT_OUTPUT_ROOT / f"{prefix}{stamp}-{suffix}"
    return run_dir


def save_keras(model, path: Path) -> None:
    """Saves the tf_keras model atomically (Keras insists on the `.keras` suffix).

    Raises:
        TfpipelineError: `Writing <path> failed: <reason>` for a full disk or any failed
            write; an earlier file at `path` is kept.
    """
    with named_write_errors(path):
        folder = tempfile.TemporaryDirectory(
            dir=path.parent, prefix=f"{TEMP_PREFIX}keras.", suffix=".tmp"
        )
        with folder as name:
            tmp = Path(name) / path.name
            model.save(tmp)
            os.replace(tmp, path)


def remove_leftovers(run_dir: Path) -> None:
    """Deletes what an interrupted run of this package left: its temporary files and
    folders and its staging folder (by their `TEMP_PREFIX` names), in the run folder and
    its sub-folders. Nothing else is touched."""
    folders = [run_dir, *(p for p in run_dir.iterdir() if p.is_dir() and not p.is_symlink())]
    for folder in folders:
        for leftover in folder.glob(f"{TEMP_PREFIX}*"):
            remove_path(leftover)


def overwrite_dir(final_dir: Path) -> Path:
    """Where a run that replaces `final_dir` is written until it has passed: a sibling whose
    name marks it as the package's."""
    return final_dir.with_name(f"{TEMP_PREFIX}{final_dir.name}.new")


def promote(staged: Path, final: Path) -> Path:
    """Moves a verified artifact from the staging folder to its place in the run folder."""
    if final.is_dir() and not final.is_symlink():
        replace_folder(staged, final)
    else:
        os.replace(staged, final)
    return final


def choose_run_dir(
    output_dir: str | Path | None, config_text: str, overwrite: bool = False
) -> Path:
    """The run folder for a config: `output_dir`, else an unfinished run of the same config
    in saved_models/, else a new timestamped folder.

    Raises:
        ConfigError: if `output_dir` is a file, holds files this package did not write,
            holds a finished run (without `overwrite`), or holds an unfinished run of a
            config that differs in a section a resumed run keeps (data, model, train).
    """
    if output_dir is None:
        return _unfinished_run(config_text) or new_timestamped_dir()
    run_dir = Path(output_dir)
    if run_dir.is_symlink():  # the run goes where the link points, and the link stays
        run_dir = run_dir.resolve()
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"Output path exists and is not a folder: {run_dir}")
    if not run_dir.exists():
        return run_dir
    check_own_folder(run_dir, RUN_CONFIG, RUN_NAMES)
    if overwrite:
        return run_dir
    if (run_dir / MANIFEST).exists():
        raise ConfigError(
            f"Output folder {run_dir} already holds a finished run ({MANIFEST}); "
            "choose another --output folder, or pass --overwrite to replace it once the new "
            "run has finished."
        )
    if (run_dir / RUN_CONFIG).is_file():
        check_same_config(run_dir, config_text)
    return run_dir


@dataclass(frozen=True)
class HeldFolder:
    """A run folder held by this process.

    Attributes:
        folder: where this process writes: `final`; a sibling while the run replaces a
            finished one (`--overwrite`); a temporary folder on a multi-worker run's other
            workers.
        final: where the finished run is.
        shared_state: on another worker, the chief's crash-safe training state it reads.
    """

    folder: RunFolder
    final: Path
    shared_state: Path | None = None


@contextlib.contextmanager
def hold_run_folder(
    final: Path, config_text: str, overwrite: bool = False, chief: bool = True
) -> Iterator[HeldFolder]:
    """Holds `final` for this run: locks it (the chief; its state is judged again once
    held), and picks where this process writes (see `HeldFolder`). A temporary folder of
    another worker is removed when the run ends.

    Raises:
        ConfigError: if another process holds the folder, or its state changed meanwhile
            (see `choose_run_dir`).
    """
    with contextlib.ExitStack() as stack:
        if chief:
            stack.enter_context(run_lock(final))
            choose_run_dir(final, config_text, overwrite)
        run_dir, shared_state = final, None
        if overwrite and (final / RUN_CONFIG).exists():
            run_dir = overwrite_dir(final)
            if chief:
                remove_path(run_dir)  # a crashed earlier attempt's (or a planted link)
        if not chief:
            # Another worker trains in step with the chief, reading the chief's crash-safe
            # state and writing its own files to a temporary folder; only the chief writes.
            shared_state = run_dir / TRAINING_STATE
            run_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=WORKER_PREFIX)))
        yield HeldFolder(RunFolder(run_dir), final, shared_state)


def check_own_folder(folder: Path, marker: str, names: tuple[str, ...] = ()) -> None:
    """Refuses an existing folder that holds files the package did not write: anything
    but its temporary names, or, in a folder it marked as its own (`marker`), anything
    but `names` (shell patterns). Writing there, or replacing the folder, could lose what
    the user keeps."""
    own = (marker, *names) if (folder / marker).is_file() else ()
    try:
        foreign = sorted(
            p.name
            for p in folder.iterdir()
            if not _is_own_name(p.name) and not any(fnmatch.fnmatch(p.name, n) for n in own)
        )
    except OSError as exc:
        raise ConfigError(f"Cannot read the output folder {folder}: {exc.strerror}") from None
    if foreign:
        raise ConfigError(
            f"Output folder {folder} already holds files that tfpipeline did not write "
            f"({listed(foreign)}); choose a new or empty folder, so that nothing of yours "
            "is overwritten."
        )


def check_same_config(run_dir: Path, config_text: str) -> None:
    """Refuses to resume a killed run with a config that differs in a section whose work
    the resumed run keeps (data, model, train); export, verify and compression run again
    in full, so they may change."""
    from tfpipeline._schema import MAX_CONFIG_BYTES, parse_yaml

    path = run_dir / RUN_CONFIG
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"it is over {MAX_CONFIG_BYTES // 1024} KiB")
        recorded = parse_yaml(path.read_text("utf-8"), str(path))
    except (OSError, UnicodeDecodeError, ConfigError) as exc:
        raise ConfigError(
            f"Cannot resume the run in {run_dir}: its {RUN_CONFIG} cannot be read ({exc}). "
            "Pass --overwrite to start afresh there, or choose another --output folder."
        ) from None
    new = parse_yaml(config_text)
    changed = [
        key
        for section in RESUMED_SECTIONS
        for key in _changed_keys(
            (recorded or {}).get(section) if isinstance(recorded, dict) else None,
            new.get(section),
            section,
        )
    ]
    if changed:
        raise ConfigError(
            f"{run_dir} holds an unfinished run of another config (changed: {listed(changed)}); "
            "resuming "
            "it would mix two runs. Run with its own config to resume it, pass --overwrite "
            "to start afresh there, or choose another --output folder."
        )


def _is_own_name(name: str) -> bool:
    return name.startswith(TEMP_PREFIX) or name == LOCK


def _changed_keys(old, new, prefix: str) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new), key=str)
        return [
            changed
            for key in keys
            for changed in _changed_keys(old.get(key), new.get(key), f"{prefix}.{key}")
        ]
    return [] if old == new else [prefix]


def _unfinished_run(config_text: str) -> Path | None:
    """The newest run folder in saved_models/ of this configuration that never finished."""
    if not DEFAULT_OUTPUT_ROOT.is_dir():
        return None
    candidates = sorted(  # timestamped names: the newest sorts last
        (p for p in DEFAULT_OUTPUT_ROOT.iterdir() if (p / RUN_CONFIG).is_file()), reverse=True
    )
    for folder in candidates:
        finished = (folder / MANIFEST).exists()
        if not finished and (folder / RUN_CONFIG).read_text("utf-8") == config_text:
            return folder
    return None


class _LayoutName:
    """A file of the run folder by its layout name: `folder.manifest` is the path
    `folder.path / MANIFEST`."""

    def __init__(self, name: str):
        self.name = name

    def __get__(self, folder, owner=None):
        return self if folder is None else folder.path / self.name


class RunFolder:
    """A run's folder: the path of each file a run writes there, and the steps of its life
    that the pipeline takes (create, write the config and labels, stage exports, promote or
    discard each, replace an earlier run).

    Args:
        path: the folder.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @property
    def name(self) -> str:
        return self.path.name

    def file(self, name: str) -> Path:
        """The path of a file of the folder (an artifact's name, or a layout name above)."""
        return self.path / name

    config_file = _LayoutName(RUN_CONFIG)
    manifest = _LayoutName(MANIFEST)
    labels = _LayoutName(LABELS)
    vocabulary = _LayoutName(VOCABULARY)
    report_md = _LayoutName(REPORT_MD)
    report_html = _LayoutName(REPORT_HTML)
    confusion_matrix = _LayoutName(CONFUSION_MATRIX)
    keras_file = _LayoutName(KERAS_FILE)
    android = _LayoutName(ANDROID_DIR)
    staging = _LayoutName(STAGING)

    def create(self) -> None:
        """Creates the folder (or takes a killed run's, removing its temporary files).

        Raises:
            ConfigError: if it cannot be created, naming why.
        """
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            remove_leftovers(self.path)  # a killed run's temporary files, never its artifacts
        except OSError as exc:
            raise ConfigError(
                f"Cannot create the run folder {self.path}: {exc.strerror or exc}. Choose a "
                "writable --output folder."
            ) from None

    def write_config(self, config_text: str) -> None:
        """Writes the run's config: from here on the folder is this config's run."""
        write_bytes_atomic(self.config_file, config_text.encode("utf-8"))

    def write_labels(self, class_names) -> None:
        """Writes the class names, one per line (nothing for a regression)."""
        if class_names:
            write_labels(self.labels, class_names)

    def write_vocabulary(self, tokenizer) -> None:
        """Writes a text model's vocabulary (nothing without a tokenizer)."""
        if tokenizer is not None:
            tokenizer.write_vocabulary(self.vocabulary)

    def start_staging(self) -> Path:
        """An empty staging folder: exports wait there until they have passed."""
        remove_path(self.staging)
        self.staging.mkdir()
        return self.staging

    def promote(self, staged: Path) -> Path:
        """Moves a verified file from the staging folder to its place in the folder."""
        return promote(staged, self.path / staged.name)

    def discard(self, staged: Path) -> None:
        """Removes a file that failed: from staging, and from the folder (an earlier,
        killed attempt's)."""
        remove_path(staged)
        remove_path(self.path / staged.name)

    def end_staging(self) -> None:
        remove_path(self.staging)


def write_labels(path: Path, class_names) -> Path:
    """Writes class names, one per line, atomically (a run's or a bundle's `labels.txt`)."""
    return write_bytes_atomic(path, ("\n".join(class_names) + "\n").encode("utf-8"))
