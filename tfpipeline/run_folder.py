"""The run folder: where a run goes, what a killed run left, and replacing a finished one."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path

from tfpipeline.errors import ConfigError

DEFAULT_OUTPUT_ROOT = Path("saved_models")
RUN_CONFIG = "run_config.yaml"  # written first: marks the folder as this config's run


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
    from tfpipeline._atomic import named_write_errors

    with named_write_errors(path):
        folder = tempfile.TemporaryDirectory(dir=path.parent, prefix=".keras.", suffix=".tmp")
        with folder as name:
            tmp = Path(name) / path.name
            model.save(tmp)
            os.replace(tmp, path)


def remove_leftovers(run_dir: Path) -> None:
    """Deletes the temporary files and folders an interrupted atomic write left behind."""
    for leftover in run_dir.glob(".*.tmp"):
        remove(leftover)


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def replace_folder(new: Path, old: Path) -> None:
    """Puts `new` where `old` is, removing `old` only once `new` is in place."""
    retired = old.with_name(f".{old.name}.old")
    shutil.rmtree(retired, ignore_errors=True)
    os.replace(old, retired)
    os.replace(new, old)
    shutil.rmtree(retired, ignore_errors=True)


def choose_run_dir(
    output_dir: str | Path | None, config_text: str, overwrite: bool = False
) -> Path:
    if output_dir is None:
        unfinished = _unfinished_run(config_text)
        if unfinished is not None:
            return unfinished
        return new_timestamped_dir()
    run_dir = Path(output_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"Output path exists and is not a folder: {run_dir}")
    if (run_dir / "manifest.json").exists() and not overwrite:
        raise ConfigError(
            f"Output folder {run_dir} already holds a finished run (manifest.json); "
            "choose another --output folder, or pass --overwrite to replace it once the new "
            "run has finished."
        )
    return run_dir


def _unfinished_run(config_text: str) -> Path | None:
    """The newest run folder in saved_models/ of this configuration that never finished."""
    if not DEFAULT_OUTPUT_ROOT.is_dir():
        return None
    candidates = sorted(
        (p for p in DEFAULT_OUTPUT_ROOT.iterdir() if (p / RUN_CONFIG).is_file()),
        key=lambda p: p.name,
        reverse=True,
    )
    for folder in candidates:
        finished = (folder / "manifest.json").exists()
        if not finished and (folder / RUN_CONFIG).read_text("utf-8") == config_text:
            return folder
    return None
