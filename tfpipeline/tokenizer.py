"""The text tokenizer: words to int32 token ids, outside the model, the same for every user.

A text model takes token ids, not strings: TensorFlow's string ops (`TextVectorization`)
need Select TF ops that LiteRT on a phone does not have. So the tokenizer is this small,
fully specified procedure, which training, `Predictor`, the command line and an app (in a
few lines of Kotlin, see the README) all follow:

1. Normalize the text to Unicode NFKC; lower-case it (when `lowercase`).
2. Split it into words: maximal runs of letters, combining marks and digits (Unicode
   categories L*, M* and N*); everything else (spaces, punctuation, symbols, `_`) separates
   words. `Don't stop!` gives `don`, `t`, `stop`.
3. Look each word up in the vocabulary (`vocab.txt`, one word per line, line `i` is id `i`):
   id 0 is padding (`[PAD]`), id 1 any word not in it (`[UNK]`).
4. Keep the first `sequence_length` ids; pad with 0 at the end up to `sequence_length`.

The vocabulary is fitted on the training split only: its words by descending count (ties in
alphabetical order), at most `vocab_size` ids in all (the two reserved ones included).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfpipeline.errors import DataError
from tfpipeline.run_folder import VOCABULARY as VOCAB_FILE

PAD, UNKNOWN = "[PAD]", "[UNK]"
PAD_ID, UNKNOWN_ID = 0, 1
RESERVED = (PAD, UNKNOWN)

# The procedure in words, for the model card and the manifest (see the module docstring).
RULES = {
    "normalize": "Unicode NFKC",
    "lowercase": "str.lower() after normalizing (Kotlin: lowercase())",
    "split": "words are maximal runs of Unicode letters, marks and digits (categories L*, "
    "M*, N*; Kotlin regex [\\p{L}\\p{M}\\p{N}]+); every other character separates words",
    "ids": "line i of vocab.txt is id i; 0 = [PAD] (padding), 1 = [UNK] (a word not in vocab.txt)",
    "length": "the first sequence_length ids are kept; shorter texts are padded with 0 at the end",
    "dtype": "int32, shape [batch, sequence_length]",
}

_WORD_CATEGORIES = ("L", "M", "N")
# A vocabulary file larger than this is refused before it is read (a million words of 64
# bytes; `model.text.vocab_size` allows at most a million ids).
MAX_VOCABULARY_BYTES = 64_000_000


_ASCII_WORD = re.compile(r"[A-Za-z0-9]+")  # the same rule, for ASCII text (the fast path)


def words(text: str, lowercase: bool = True) -> list[str]:
    """Splits a text into its words (steps 1 and 2 of the module docstring)."""
    if text.isascii():  # NFKC leaves ASCII as it is; its letters and digits are [A-Za-z0-9]
        return _ASCII_WORD.findall(text.lower() if lowercase else text)
    text = unicodedata.normalize("NFKC", text)
    if lowercase:
        text = text.lower()
    found, current = [], []
    for char in text:
        if unicodedata.category(char)[0] in _WORD_CATEGORIES:
            current.append(char)
        elif current:
            found.append("".join(current))
            current = []
    if current:
        found.append("".join(current))
    return found


@dataclass(frozen=True)
class Tokenizer:
    """Turns texts into padded int32 token ids (see the module docstring).

    Attributes:
        vocabulary: the words by id (`[PAD]` and `[UNK]` first).
        sequence_length: the number of ids a text becomes.
        lowercase: whether texts are lower-cased before splitting.
    """

    vocabulary: tuple[str, ...]
    sequence_length: int
    lowercase: bool = True

    def __post_init__(self):
        object.__setattr__(self, "_ids", {word: i for i, word in enumerate(self.vocabulary)})

    @property
    def vocab_size(self) -> int:
        """The number of ids (the embedding's input dimension)."""
        return len(self.vocabulary)

    def encode(self, texts: Iterable[str]) -> np.ndarray:
        """Returns the token ids of each text, `(len(texts), sequence_length)` int32.

        Raises:
            DataError: for an item that is not a string.
        """
        texts = list(texts)
        ids = np.zeros((len(texts), self.sequence_length), dtype=np.int32)
        for row, text in enumerate(texts):
            if not isinstance(text, str):
                raise DataError(
                    f"A text model takes strings; item {row} is {type(text).__name__}: "
                    f"{str(text)[:40]!r}."
                )
            tokens = [self._ids.get(w, UNKNOWN_ID) for w in self.words(text)]
            tokens = tokens[: self.sequence_length]
            ids[row, : len(tokens)] = tokens
        return ids

    def words(self, text: str) -> list[str]:
        """The words of a text, as this tokenizer splits them."""
        return words(text, self.lowercase)

    def to_dict(self) -> dict[str, Any]:
        """The tokenizer's settings and rules (for the manifest and the model card; the
        words themselves are in `vocab.txt`)."""
        return {
            "vocab_file": VOCAB_FILE,
            "vocab_size": self.vocab_size,
            "sequence_length": self.sequence_length,
            "lowercase": self.lowercase,
            "pad_id": PAD_ID,
            "unknown_id": UNKNOWN_ID,
            "rules": dict(RULES),
        }

    def write_vocabulary(self, path: str | Path) -> Path:
        """Writes `vocab.txt` (atomically): one word per line, line `i` is id `i`."""
        from tfpipeline._atomic import write_bytes_atomic

        return write_bytes_atomic(path, ("\n".join(self.vocabulary) + "\n").encode("utf-8"))

    @classmethod
    def read(cls, path: str | Path, sequence_length: int, lowercase: bool = True) -> Tokenizer:
        """Reads a tokenizer back from its `vocab.txt` and settings.

        Raises:
            DataError: for a missing or unreadable file, or one that does not start with
                the reserved ids.
        """
        path = Path(path)
        try:
            if path.stat().st_size > MAX_VOCABULARY_BYTES:
                raise DataError(
                    f"{path} holds {path.stat().st_size:,} bytes, more than a vocabulary "
                    f"of {MAX_VOCABULARY_BYTES:,} bytes: it is not a tfpipeline vocabulary."
                )
            vocabulary = path.read_text("utf-8").split("\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"Cannot read the vocabulary {path}: {exc}") from None
        if vocabulary and vocabulary[-1] == "":
            vocabulary.pop()
        if tuple(vocabulary[:2]) != RESERVED or len(set(vocabulary)) != len(vocabulary):
            raise DataError(
                f"{path} is not a tfpipeline vocabulary: it must start with {PAD} and "
                f"{UNKNOWN} (ids 0 and 1), one distinct word per line."
            )
        if not isinstance(sequence_length, int) or sequence_length < 1:
            raise DataError(
                f"The sequence length recorded for {path} must be a positive integer. "
                f"Received: {sequence_length!r}"
            )
        return cls(tuple(vocabulary), sequence_length, bool(lowercase))


def fit_tokenizer(
    texts: Sequence[str], vocab_size: int, sequence_length: int, lowercase: bool = True
) -> Tokenizer:
    """Fits the vocabulary on `texts` (the training split): the `vocab_size - 2` most
    frequent words (ties alphabetical) after the two reserved ids.

    Args:
        texts: the training texts.
        vocab_size: the most ids in all (the reserved two included), >= 3.
        sequence_length: the ids per text.
        lowercase: lower-case before splitting. Defaults to `True`.

    Raises:
        DataError: when the texts hold no word at all.
        TypeError: for one string given as `texts`.
        ValueError: for a `vocab_size` under 3 or a `sequence_length` under 1.
    """
    if isinstance(texts, str):
        raise TypeError(
            "Argument `texts` must be a sequence of texts, not one string. Received: "
            f"texts={texts[:40]!r}"
        )
    for name, value, low in (
        ("vocab_size", vocab_size, 3),
        ("sequence_length", sequence_length, 1),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(
                f"Argument `{name}` must be an integer >= {low}. Received: {name}={value!r}"
            )
    counts = Counter(w for text in texts for w in words(text, lowercase))
    if not counts:
        raise DataError(
            "The training texts hold no words (runs of letters or digits) to build a "
            "vocabulary from."
        )
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    kept = [word for word, _ in ranked[: vocab_size - len(RESERVED)]]
    return Tokenizer((*RESERVED, *kept), sequence_length, lowercase)
