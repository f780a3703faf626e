"""The exceptions tfpipeline raises on purpose.

Each carries a message that names what was wrong, the value received and what would be
accepted. The command line maps them to exit codes: `ConfigError` and `UnsupportedModelError`
are bad usage (exit 2); `VerificationError` and other `TfpipelineError`s are failed runs (exit 1).
"""

from __future__ import annotations


def not_a_file(path) -> str:
    """Why `path` cannot be read as a file: `is a folder, not a file`, `is not a regular file
    (a named pipe or a device)`, or `not found` (a broken link or a link loop included)."""
    if path.is_dir():
        return "is a folder, not a file"
    if path.exists():
        return "is not a regular file (a named pipe or a device)"
    return "not found"


class TfpipelineError(Exception):
    """Base class of every error raised on purpose by tfpipeline."""


class ConfigError(TfpipelineError, ValueError):
    """A configuration key, value or file that cannot be used."""


class DataError(TfpipelineError, ValueError):
    """Data that cannot be used: empty, too small to split, wrong shape."""


class UnsupportedModelError(TfpipelineError, TypeError):
    """A model that the pipeline cannot take, such as a Keras 3 model."""


class ConversionError(TfpipelineError, RuntimeError):
    """A model that the LiteRT converter could not turn into one variant (its message names
    the variant and the converter's reason); the other variants may still convert."""


class VerificationError(TfpipelineError, RuntimeError):
    """An exported artifact that failed its check in the runtime that will run it.

    Attributes:
        failures: one human-readable line per failed check.
    """

    def __init__(self, failures: list[str]):
        self.failures = list(failures)
        super().__init__("verification failed: " + "; ".join(self.failures))
