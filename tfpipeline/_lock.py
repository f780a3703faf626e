"""The lock that holds a run folder for one process: a second run on it is refused at once,
naming the holder; the system releases it when the process ends, however it ends."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

from tfpipeline.errors import ConfigError

LOCK = ".tfpipeline.lock"  # held by the one process working in the folder


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
    while True:
        handle = _open_lock_file(path)
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


def _open_lock_file(path: Path):
    """Opens (or creates) the lock file, never through a link: a planted link would have
    the lock written into whatever file it points at."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise IsADirectoryError
    except OSError:
        raise ConfigError(
            f"{path} is not tfpipeline's lock file (a link, a folder or something else "
            "stands there); remove it, or choose another --output folder."
        ) from None
    return os.fdopen(fd, "r+", encoding="utf-8")


def _holder_text(text: str) -> str:
    try:
        record = json.loads(text)
        pid, host, started = int(record["pid"]), str(record["host"]), str(record["started"])
        return f"process {pid} on {host[:100]} since {started[:40]}"
    except (ValueError, KeyError, TypeError):
        return "holder unknown"
