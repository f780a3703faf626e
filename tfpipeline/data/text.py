"""Texts: a CSV file's text column, or a folder of `.txt` files per class.

Texts load as `TextSamples` (strings). Once the split is known, the tokenizer is fitted on
the training texts (`tfpipeline.tokenizer`) and every text becomes its token ids:
`TokenSamples`, which feed the model like any in-memory features and keep their texts for
the classical baseline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfpipeline.config import DEFAULT_NA_VALUES
from tfpipeline.data.arrays import ArraySamples
from tfpipeline.data.base import LoadedData, Samples, list_class_files, warn_other_files
from tfpipeline.data.csv_files import numeric_labels_if_possible
from tfpipeline.data.tabular import read_csv_table
from tfpipeline.errors import DataError
from tfpipeline.tokenizer import Tokenizer, words

TEXT_SUFFIX = ".txt"
# A text file larger than this is skipped (named): a classifier reads a text's first words,
# and a file of gigabytes in a text folder is a mistake, not a sample.
MAX_TEXT_BYTES = 10_000_000
# How text files are decoded: UTF-8 (a byte-order mark allowed), UTF-16 with its byte-order
# mark, else Windows-1252 (which reads any byte; the files so read are counted in a note).
FALLBACK_ENCODING = "cp1252"


@dataclass(frozen=True)
class TextSamples(Samples):
    """Texts, one per sample, before tokenization.

    Attributes:
        texts: one string per sample (`None` for a missing one).
        names: how a report names each sample (`row 3`, or its file path).
    """

    texts: np.ndarray
    names: np.ndarray
    in_memory = True
    is_image = False
    value_range = None
    missing_kind = "empty text"

    def finite_rows(self) -> np.ndarray:
        """Marks the texts holding at least one word (the others cannot be classified)."""
        return np.array([isinstance(t, str) and bool(words(t)) for t in self.texts], dtype=bool)

    def row_keys(self) -> np.ndarray:
        """One id per distinct text (exact copies are duplicates)."""
        keys = np.array([t if isinstance(t, str) else "" for t in self.texts], dtype=object)
        return np.unique(keys.astype(str), return_inverse=True)[1].astype(np.int64)

    def row_names(self, rows: np.ndarray) -> list:
        return [str(self.names[i]) for i in rows]


@dataclass(frozen=True)
class TokenSamples(ArraySamples):
    """Texts as the model takes them: `x[i]` is text `i`'s int32 token ids; `texts` keeps
    the strings (for the classical baseline and the reports)."""

    texts: np.ndarray | None = None


def tokenized(samples: TextSamples, tokenizer: Tokenizer) -> TokenSamples:
    """The texts as token ids (a missing text as all padding: cleaning drops it)."""
    texts = np.array([t if isinstance(t, str) else "" for t in samples.texts], dtype=object)
    return TokenSamples(tokenizer.encode(texts), texts=texts)


def load_text_csv(
    path: str,
    text_column: str,
    label_column: str,
    na_values: Sequence[str] = DEFAULT_NA_VALUES,
) -> LoadedData:
    """Reads the text and label columns of a CSV file with a header row.

    Raises:
        DataError: for a missing or empty file, a malformed row (named by line), or a
            text or label column the header lacks.
    """
    file = Path(path)
    header, body = read_csv_table(file)
    for key, column in (("text_column", text_column), ("label_column", label_column)):
        if column not in header:
            raise DataError(
                f"Column {column!r} (`data.{key}`) not found in {file}. Columns: "
                f"{', '.join(header)}."
            )
    if text_column == label_column:
        raise DataError(
            f"`data.text_column` and `data.label_column` are both {text_column!r}; a model "
            "cannot take its own answer as input."
        )
    na = set(na_values)
    text_at, label_at = header.index(text_column), header.index(label_column)
    texts = np.array([None if r[text_at].strip() in na else r[text_at] for r in body], object)
    labels = np.array(
        [None if r[label_at].strip() in na else r[label_at].strip() for r in body], object
    )
    labels = numeric_labels_if_possible(labels, f"column {label_column!r} of {file}")
    names = np.array([f"row {i}" for i in range(len(body))], dtype=object)
    return LoadedData(file.stem, TextSamples(texts, names), labels)


def load_text_dir(path: str) -> LoadedData:
    """Reads a text folder (`root/<class>/<file>.txt`; like Keras's
    `text_dataset_from_directory`).

    Every `.txt` file under a class folder is one text (sub-folders included). Files that
    cannot be read, or are larger than `MAX_TEXT_BYTES`, are skipped and named in the
    `unreadable_files` note; files with another suffix are skipped with a warning counting
    them; files not in UTF-8 are read as Windows-1252 and counted in the `encodings` note.

    Raises:
        DataError: for a missing folder, or fewer than two class folders holding texts.
    """
    root = Path(path)
    if not root.is_dir():
        kind = "is a file, not a folder" if root.exists() else "not found"
        raise DataError(f"Text folder {kind}: {root}")
    files, labels, others = _list_text_files(root)
    texts, kept, unreadable, encodings = [], [], [], Counter()
    for index, file in enumerate(files):
        text, reason = read_text_file(file)
        if text is None:
            unreadable.append(f"{file} ({reason})")
            continue
        texts.append(text)
        kept.append(index)
        encodings[reason] += 1
    warn_other_files("Text", root, others, TEXT_SUFFIX)
    notes = {"unreadable_files": unreadable}
    decoded = {k: n for k, n in encodings.items() if k != "utf-8"}
    if decoded:
        notes["encodings"] = "texts not in UTF-8 read as " + ", ".join(
            f"{name} ({count})" for name, count in sorted(decoded.items())
        )
    paths = np.array([str(files[i]) for i in kept], dtype=object)
    samples = TextSamples(np.array(texts, dtype=object), paths)
    return LoadedData(root.name, samples, np.array([labels[i] for i in kept], object), notes)


def _list_text_files(root: Path) -> tuple[list[Path], list[str], list[Path]]:
    return list_class_files(
        root,
        "Text",
        "text",
        lambda file: file.suffix.lower() == TEXT_SUFFIX,
        f"{TEXT_SUFFIX} files (root/<class>/<text>{TEXT_SUFFIX})",
    )


def read_text_file(file: Path) -> tuple[str | None, str]:
    """A text file's text and the encoding it was read in (UTF-8, UTF-16 with a byte-order
    mark, else Windows-1252), or `None` and why not."""
    try:
        size = file.stat().st_size
        if size > MAX_TEXT_BYTES:
            return None, f"{size:,} bytes, over the limit of {MAX_TEXT_BYTES:,}"
        data = file.read_bytes()
    except OSError as exc:
        return None, exc.strerror or str(exc)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            return None, "not valid UTF-16 after its byte-order mark"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode(FALLBACK_ENCODING, errors="replace"), "windows-1252"
    no_bom = _utf16_without_bom(data)
    return (data.decode(no_bom), f"{no_bom} (no byte-order mark)") if no_bom else (text, "utf-8")


def _utf16_without_bom(data: bytes) -> str | None:
    """`utf-16-le` or `-be` for text whose every other byte is zero (Latin text saved as
    UTF-16 without a byte-order mark, which also decodes as UTF-8 full of NULs), else `None`."""
    if len(data) < 4 or len(data) % 2 or data.count(0) < len(data) // 3:
        return None
    for codec, zeros in (("utf-16-le", data[1::2]), ("utf-16-be", data[0::2])):
        if zeros.count(0) >= 0.9 * len(zeros):
            try:
                data.decode(codec)
            except UnicodeDecodeError:
                return None
            return codec
    return None
