"""Atomic writes: a temporary sibling first, then `os.replace`, so no half-written artifact."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

TEMP_PREFIX = ".tfpipeline-"  # every temporary name the package gives starts so
_UMASK = os.umask(0)
os.umask(_UMASK)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Writes `data` to `path` through a temporary file in the same folder.

    Returns:
        The written path.
    """
    with file_atomic(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


@contextlib.contextmanager
def file_atomic(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path beside `path`; on success it replaces `path`, else it is removed."""
    path = Path(path)
    with _writable(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        with _write_errors(path):
            yield tmp
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it private; a model file is not
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def dir_atomic(path: str | Path) -> Iterator[Path]:
    """Yields a temporary folder beside `path`; on success it replaces `path`, else it is removed.

    An existing folder at `path` is only removed once the new one is complete.
    """
    path = Path(path)
    with _writable(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_UMASK)
        if path.exists() or path.is_symlink():
            replace_folder(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def replace_folder(new: Path, old: Path) -> None:
    """Puts `new` where `old` is, removing `old` only once `new` is in place."""
    retired = old.with_name(f"{TEMP_PREFIX}{old.name}.old")
    remove_path(retired)
    os.replace(old, retired)
    os.replace(new, old)
    remove_path(retired)


def remove_path(path: Path) -> None:
    """Removes a file, a folder with its files, or a link (never what a link points to)."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)


def _temp_prefix(path: Path) -> str:
    return f"{TEMP_PREFIX}{path.name}."


def _writable(path: Path):
    """Turns a failure to create the output folder or its temporary file into a clear error."""
    return _named_os_errors(
        lambda reason: (
            f"Cannot write {path}: its folder {path.parent} cannot be created or "
            f"written ({reason}). Choose a writable output folder."
        )
    )


def _write_errors(path: Path):
    """Turns a failed write (a full disk, a lost mount) into a clear error naming the file."""
    return _named_os_errors(
        lambda reason: (
            f"Writing {path} failed: {reason}. Nothing was written there (any "
            "earlier file at that path is unchanged); free space or choose another folder."
        )
    )


@contextlib.contextmanager
def _named_os_errors(message: Callable[[str], str]) -> Iterator[None]:
    """Raises an `OSError` from the block as a `TfpipelineError`: `message(reason)`."""
    try:
        yield
    except OSError as exc:
        from tfpipeline.errors import TfpipelineError

        raise TfpipelineError(message(str(exc.strerror or exc))) from None


@contextlib.contextmanager
def named_write_errors(path: str | Path) -> Iterator[None]:
    """Turns a failed write inside a library (Keras saving a model, a log or a checkpoint:
    an `OSError`, or TensorFlow's own error for a full disk) into one line naming `path`:
    `Writing <path> failed: <reason>`."""
    from tfpipeline._keras import tf
    from tfpipeline.errors import TfpipelineError

    try:
        yield
    except OSError as exc:
        raise TfpipelineError(f"Writing {path} failed: {exc.strerror or exc}.") from None
    except tf.errors.OpError as exc:
        first = exc.message.splitlines()[0] if exc.message else type(exc).__name__
        disk_full = "No space left on device" in (exc.message or "")
        reason = "No space left on device" if disk_full else first
        raise TfpipelineError(f"Writing {path} failed: {reason}.") from None
