"""The run folder: where a run goes, who holds it, what a killed run left, and replacing a
finished one.

Every name this package gives a temporary file or folder starts with `TEMP_PREFIX`, so that
clean-up removes only what the package made, never a file of the user's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tfpipeline._atomic import TEMP_PREFIX, named_write_errors
from tfpipeline.errors import ConfigError

DEFAULT_OUTPUT_ROOT = Path("saved_models")
RUN_CONFIG = "run_config.yaml"  # written first: marks the folder as this config's run
MANIFEST = "manifest.json"  # written last: marks the run as finished
STAGING = f"{TEMP_PREFIX}staging"  # exports wait here until they have passed verification
LOCK = ".tfpipeline.lock"  # held by the one process working in the folder
# Sections whose work a resumed run keeps; a change to any of them would mix two runs.
RESUMED_SECTIONS = ("data", "model", "train")


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
            remove(leftover)


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def replace_folder(new: Path, old: Path) -> None:
    """Puts `new` where `old` is, removing `old` only once `new` is in place."""
    retired = old.with_name(f"{TEMP_PREFIX}{old.name}.old")
    shutil.rmtree(retired, ignore_errors=True)
    os.replace(old, retired)
    os.replace(new, old)
    shutil.rmtree(retired, ignore_errors=True)


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
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"Output path exists and is not a folder: {run_dir}")
    if not run_dir.exists():
        return run_dir
    check_own_folder(run_dir, RUN_CONFIG)
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


def check_own_folder(folder: Path, marker: str) -> None:
    """Refuses an existing folder that holds files and is not one of the package's (no
    `marker` file): writing there could overwrite what the user keeps."""
    if (folder / marker).is_file():
        return
    try:
        foreign = sorted(p.name for p in folder.iterdir() if not _is_own_name(p.name))
    except OSError as exc:
        raise ConfigError(f"Cannot read the output folder {folder}: {exc.strerror}") from None
    if foreign:
        raise ConfigError(
            f"Output folder {folder} already holds files that tfpipeline did not write "
            f"({_listed(foreign)}); choose a new or empty folder, so that nothing of yours "
            "is overwritten."
        )


def check_same_config(run_dir: Path, config_text: str) -> None:
    """Refuses to resume a killed run with a config that differs in a section whose work
    the resumed run keeps (data, model, train); export, verify and compression run again
    in full, so they may change."""
    from tfpipeline._schema import parse_yaml

    try:
        recorded = parse_yaml((run_dir / RUN_CONFIG).read_text("utf-8"), str(run_dir / RUN_CONFIG))
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
            f"{run_dir} holds an unfinished run of another config (changed: {_listed(changed)}); "
            "resuming "
            "it would mix two runs. Run with its own config to resume it, pass --overwrite "
            "to start afresh there, or choose another --output folder."
        )


@contextlib.contextmanager
def run_lock(folder: Path) -> Iterator[None]:
    """Holds the folder for this process: a second run on it is refused at once, naming
    the holder.

    The lock is a file (`.tfpipeline.lock`, holding the process id, host and start time)
    with an exclusive `flock` on it: the system releases it when the process ends, however
    it ends, so a killed run's lock never blocks the next. The folder is created if needed,
    and removed again if the run leaves nothing in it.
    """
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"Cannot create the run folder {folder}: {exc.strerror or exc}. Choose a "
            "writable --output folder."
        ) from None
    handle = _acquire(folder / LOCK)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            (folder / LOCK).unlink()
        handle.close()
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty: a run that failed before writing anything


def _acquire(path: Path):
    import fcntl

    while True:
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held until released
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read(500)
            handle.close()
            raise ConfigError(
                f"{path.parent} is in use by another tfpipeline process ({_holder_text(holder)}); "
                "two runs in one folder would mix their files. Wait for it to end, or choose "
                "another --output folder."
            ) from None
        # The holder may have released and removed the file between open and flock.
        if path.exists() and os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
            break
        handle.close()
    handle.seek(0)
    handle.truncate()
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    handle.write(json.dumps(record) + "\n")
    handle.flush()
    return handle


def _holder_text(text: str) -> str:
    try:
        record = json.loads(text)
        pid, host, started = int(record["pid"]), str(record["host"]), str(record["started"])
        return f"process {pid} on {host[:100]} since {started[:40]}"
    except (ValueError, KeyError, TypeError):
        return "holder unknown"


def _listed(names: list[str], shown: int = 4) -> str:
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


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
    candidates = sorted(
        (p for p in DEFAULT_OUTPUT_ROOT.iterdir() if (p / RUN_CONFIG).is_file()),
        key=lambda p: p.name,
        reverse=True,
    )
    for folder in candidates:
        finished = (folder / MANIFEST).exists()
        if not finished and (folder / RUN_CONFIG).read_text("utf-8") == config_text:
            return folder
    return None
