"""TensorFlow's native log lines kept out of what a learner or a user reads.

TensorFlow and LiteRT write C++ log lines straight to file descriptor 2: at start-up (oneDNN
notices, "Could not find cuda drivers", "failed call to cuInit"), at each TFLite conversion
(about ten lines) and at the first interpreter ("Created TensorFlow Lite XNNPACK
delegate"). `TF_CPP_MIN_LOG_LEVEL=3` hides most, but not the lines TensorFlow writes before
its logging starts, nor the converter's and LiteRT's own prints. A Jupyter kernel forwards
file descriptor 2 into the cell's output, so a learner sees them all.

`quiet_tensorflow()` hides them: it sets `TF_CPP_MIN_LOG_LEVEL=3` (unless already set),
puts a filter on file descriptor 2 that drops lines in TensorFlow's log formats and passes
every other line through, then imports TensorFlow and lowers its Python logger to errors.
Call it before anything imports TensorFlow; the command line calls it unless `-v` is given.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading
import warnings

# The formats of the lines dropped: absl's ("I0000 00:00:1795977291.762156   26017 port.cc:153]
# ..."), its notice before logging starts, the converter's and LiteRT's prints, and the
# CPU-feature notice's second line.
NATIVE_LOG_LINE = re.compile(
    r"(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.-]+:\d+\] "
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|fully_quantize: \d"
    r"|INFO: (?:Created|Initialized) TensorFlow Lite"
    r"|To enable the following instructions: )"
)

_filter_lock = threading.Lock()
_filter_installed = False


def quiet_tensorflow() -> None:
    """Loads TensorFlow with its and LiteRT's native log lines hidden for the rest of the
    process.

    Python warnings and errors, Keras's progress and every other line written to standard
    error still show. Calling it again does nothing more.
    """
    if "tensorflow" in sys.modules:
        warnings.warn(
            "TensorFlow was imported before quiet_tensorflow(): its start-up lines already "
            "showed. Call tfpipeline.quiet_tensorflow() first, before any TensorFlow import.",
            stacklevel=2,
        )
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _filter_native_stderr()
    import tensorflow as tf

    # After the import: TensorFlow's logger sets itself to INFO on first use in an
    # interactive session (a notebook), which would print "INFO:tensorflow:Assets written".
    tf.get_logger().setLevel(logging.ERROR)


def _filter_native_stderr() -> None:
    global _filter_installed
    with _filter_lock:
        if _filter_installed:
            return
        try:
            original = os.dup(2)
        except OSError:  # no standard error to filter
            return
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        thread = threading.Thread(
            target=_forward, args=(read_end, original), name="tfpipeline-stderr", daemon=True
        )
        thread.start()
        atexit.register(_restore, original, thread)
        _filter_installed = True


def _forward(read_end: int, original: int) -> None:
    """Copies the pipe to the original standard error, line by line, without the log lines;
    a partial line holding a carriage return (a progress bar) goes on at once."""
    pending = b""
    while chunk := os.read(read_end, 65536):
        *lines, pending = (pending + chunk).split(b"\n")
        kept = [line + b"\n" for line in lines if not _is_native_log(line)]
        if b"\r" in pending:
            kept.append(pending)
            pending = b""
        if kept:
            os.write(original, b"".join(kept))
    if pending and not _is_native_log(pending):
        os.write(original, pending)
    os.close(read_end)


def _is_native_log(line: bytes) -> bool:
    return NATIVE_LOG_LINE.match(line.decode("utf-8", "replace").lstrip("\r")) is not None


def _restore(original: int, thread: threading.Thread) -> None:
    # At exit: standard error back to where it went, and what the pipe holds written out.
    sys.stderr.flush()
    os.dup2(original, 2)
    thread.join(timeout=2)
