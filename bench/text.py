"""Text classification: four architectures against TF-IDF + logistic regression, int8 against
float32, single-string latency with the tokenizer included, model sizes.

Usage: python bench/text.py [--architectures bag,cnn,lstm,transformer] [--variants] [--quick]

The data: no text data set is on this machine and none can be downloaded, so one is built
from the docstrings of the installed libraries, labeled by library (7 classes): numpy,
scipy, sklearn (scikit-learn), pandas, matplotlib, tensorflow and the Python standard
library (`stdlib`). For each library a fixed list of its public modules is imported (for
TensorFlow, `tensorflow` and its public submodules but `compat` and `keras`); every public
function and class of those modules whose `__module__` belongs to the library (the standard
library: a module of `sys.stdlib_module_names`), and every public method, static method,
class method and property defined in such a class, gives its own `__doc__` (not an
inherited one). A docstring is cleaned: doctest lines (`>>>`, `...`), underline lines
(`-----`) and a leading call signature are dropped; whitespace is collapsed to single spaces;
the names of the libraries and their usual aliases (numpy, np, scipy, sklearn,
scikit-learn, pandas, pd, matplotlib, mpl, pyplot, plt, tensorflow, tf, keras) are removed,
as whole words, so that neither a model nor the baseline reads the answer off a qualified
name such as `np.` or `tf.`; the text is cut to its first 600 characters (at a word
boundary). Texts of fewer than 8 words are dropped; a text found under two libraries (a
re-exported or copied docstring) is dropped from both; exact duplicates are kept once. Then
600 texts of each library are drawn at random (seed 0), or all of a library's texts if it
has fewer; they are written to `docstrings.csv` (columns `docstring`, `library`). What
remains is real technical English (with code words, argument names and reST markup), and
the task is telling a library from the way its documentation is written and what it talks
about: the numpy/scipy/pandas docstrings share the numpydoc layout and much vocabulary.

The measurement: one `tp.Pipeline(config).run()` per architecture (`bag`, `cnn`, `lstm`,
`transformer`), all on that CSV (`data.source: csv`, `data.text_column: docstring`,
`data.label_column: library`; the package's stratified split, seeded, the same for every
run), `model.kind: text`, vocabulary 10,000 ids fitted on the training split, 64 token ids a
text, `model.hidden_units: [64]`, up to 10 epochs (batch 32) with the package's early
stopping on the validation loss (the best epoch's weights kept); no compression; exports
float32 and int8 `.tflite` and `.onnx` (no SavedModel, no `model.keras`). Each run's
`manifest.json` gives the test accuracy of the Keras model, of each artifact (measured by
the package in its own runtime, with its top-1 agreement with the Keras model) and of the
classical baseline the package fits beside it: TF-IDF of word 1-2-grams and a logistic
regression whose strength is chosen on the validation split (`evaluation.baseline`). Then
every architecture's three files are opened with `tp.Predictor.load(path, num_threads=1)`
from the run folder (the `vocab.txt` beside them), and `Predictor.predict(text)` on one
Python string, tokenizer included, is timed end to end: LiteRT int8, LiteRT float32 and
onnxruntime float32, plus the tokenizer alone (`predictor.input_spec.prepare(text)`, the
step `predict` starts with). The paths take turns in `rounds` rounds of `calls` calls (one
test text per call, the same texts for every path; the order reversed every other round),
after 5 untimed calls each; printed: each path's median and p90 over all its calls, and the
median and quartiles over the rounds of the per-round ratios of medians (the two paths ran
within a second of each other). Also printed: the file sizes (raw and gzip) of every
variant, each int8 file's ops (and those its conversion left in float) from the manifest,
and whether `predict("")` (a text with no word, all padding) gives finite outputs in each
runtime.

Each run lowers `verify.int8_min_agreement` to 0 so that an int8 file the package's gate would
remove stays in the run folder to be timed; the verdict of the default gate (decisive
agreement >= 0.97) is printed from the manifest's figures instead.

`--variants` also exports the `dynamic` (int8 weights, float activations) and `int16x8`
(int16 activations, int8 weights) `.tflite` files and prints every variant side by side:
test accuracy, agreement with the Keras model, the default gate's verdict, size, and
`Predictor.predict(one string)` in LiteRT (1 thread, tokenizer included, timed in turns as
above); a variant the converter or LiteRT cannot make or run is named with its reason.

`--quick` runs everything tiny (60 texts a class, 2 epochs, few rounds) as a smoke check of
the script; its figures mean nothing.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import importlib
import importlib.metadata
import inspect
import json
import os
import random
import re
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from _machine import load, machine  # noqa: E402  (bench/, the script's folder)

import tfpipeline as tp  # noqa: E402

ARCHITECTURES = ("bag", "cnn", "lstm", "transformer")
SEED = 42
SAMPLE_SEED = 0
TEXT_CHARS = 600
MIN_WORDS = 8
# The package's default `verify.int8_min_agreement` (the run lowers it to keep every file).
DEFAULT_GATE = 0.97
PACKAGES = (
    "tensorflow",
    "tf_keras",
    "ai-edge-litert",
    "onnxruntime",
    "onnx",
    "tf2onnx",
    "numpy",
    "scipy",
    "scikit-learn",
    "pandas",
    "matplotlib",
)

# The modules each library's docstrings are read from (public ones; a module that does not
# import is skipped).
LIBRARIES: dict[str, tuple[str, ...]] = {
    "numpy": (
        "numpy",
        "numpy.linalg",
        "numpy.fft",
        "numpy.random",
        "numpy.polynomial",
        "numpy.ma",
        "numpy.lib",
        "numpy.testing",
        "numpy.strings",
        "numpy.char",
        "numpy.emath",
    ),
    "scipy": tuple(
        f"scipy.{name}"
        for name in (
            "cluster",
            "constants",
            "datasets",
            "differentiate",
            "fft",
            "integrate",
            "interpolate",
            "io",
            "linalg",
            "ndimage",
            "odr",
            "optimize",
            "signal",
            "sparse",
            "sparse.linalg",
            "sparse.csgraph",
            "spatial",
            "special",
            "stats",
        )
    ),
    "sklearn": tuple(
        f"sklearn.{name}"
        for name in (
            "base",
            "calibration",
            "cluster",
            "compose",
            "covariance",
            "cross_decomposition",
            "datasets",
            "decomposition",
            "discriminant_analysis",
            "dummy",
            "ensemble",
            "feature_extraction",
            "feature_extraction.text",
            "feature_selection",
            "gaussian_process",
            "impute",
            "inspection",
            "isotonic",
            "kernel_approximation",
            "kernel_ridge",
            "linear_model",
            "manifold",
            "metrics",
            "mixture",
            "model_selection",
            "multiclass",
            "multioutput",
            "naive_bayes",
            "neighbors",
            "neural_network",
            "pipeline",
            "preprocessing",
            "random_projection",
            "semi_supervised",
            "svm",
            "tree",
            "utils",
        )
    ),
    "pandas": (
        "pandas",
        "pandas.api.types",
        "pandas.api.extensions",
        "pandas.plotting",
        "pandas.io.formats.style",
        "pandas.tseries.offsets",
        "pandas.core.groupby",
        "pandas.core.window",
        "pandas.core.resample",
    ),
    "matplotlib": tuple(
        f"matplotlib{name}"
        for name in (
            "",
            ".pyplot",
            ".axes",
            ".figure",
            ".artist",
            ".colors",
            ".cm",
            ".patches",
            ".lines",
            ".text",
            ".ticker",
            ".dates",
            ".transforms",
            ".path",
            ".collections",
            ".legend",
            ".image",
            ".animation",
            ".widgets",
            ".backend_bases",
            ".axis",
            ".spines",
            ".gridspec",
            ".colorbar",
            ".contour",
            ".quiver",
            ".scale",
            ".font_manager",
            ".markers",
            ".tri",
            ".patheffects",
            ".offsetbox",
            ".table",
            ".mlab",
        )
    ),
    "tensorflow": ("tensorflow",),
    "stdlib": tuple(
        [
            "os",
            "os.path",
            "re",
            "json",
            "collections",
            "itertools",
            "functools",
            "pathlib",
            "datetime",
            "random",
            "statistics",
            "string",
            "textwrap",
            "subprocess",
            "threading",
            "multiprocessing",
            "asyncio",
            "socket",
            "http.client",
            "http.server",
            "urllib.request",
            "urllib.parse",
            "email.message",
            "csv",
            "sqlite3",
            "logging",
            "argparse",
            "shutil",
            "tempfile",
            "zipfile",
            "tarfile",
            "gzip",
            "hashlib",
            "decimal",
            "fractions",
            "typing",
            "unittest",
            "inspect",
            "ast",
            "dis",
            "pickle",
            "copy",
            "heapq",
            "bisect",
            "enum",
            "dataclasses",
            "contextlib",
            "xml.etree.ElementTree",
            "html.parser",
            "io",
            "codecs",
            "locale",
            "calendar",
            "time",
            "uuid",
            "base64",
            "struct",
            "array",
            "weakref",
            "operator",
            "pprint",
            "difflib",
            "shlex",
            "glob",
            "fnmatch",
            "configparser",
            "queue",
            "sched",
            "selectors",
            "signal",
            "ssl",
            "smtplib",
            "ftplib",
            "imaplib",
            "doctest",
            "pdb",
            "trace",
            "timeit",
            "zoneinfo",
            "ipaddress",
            "secrets",
            "hmac",
            "mimetypes",
            "wave",
            "colorsys",
            "tomllib",
            "importlib",
            "importlib.resources",
            "concurrent.futures",
            "math",
            "cmath",
            "sys",
            "builtins",
            "types",
            "abc",
            "numbers",
            "codeop",
            "tokenize",
            "traceback",
            "warnings",
            "gettext",
            "getpass",
            "platform",
            "errno",
            "ctypes",
            "mmap",
            "zlib",
            "bz2",
            "lzma",
            "filecmp",
            "stat",
            "plistlib",
            "netrc",
            "webbrowser",
            "wsgiref.simple_server",
            "xmlrpc.client",
            "graphlib",
            "reprlib",
            "keyword",
            "linecache",
            "runpy",
            "site",
            "sysconfig",
            "unicodedata",
            "quopri",
            "binascii",
            "optparse",
            "cmd",
            "shelve",
            "dbm",
            "copyreg",
            "atexit",
            "faulthandler",
            "tracemalloc",
            "gc",
        ]
    ),
}
# TensorFlow's public submodules read besides `tensorflow` itself (not `compat`, the 1.x
# API, nor `keras`, which is another library).
TF_SUBMODULES = [
    "math",
    "nn",
    "linalg",
    "signal",
    "image",
    "io",
    "data",
    "strings",
    "random",
    "sparse",
    "ragged",
    "audio",
    "bitwise",
    "config",
    "debugging",
    "distribute",
    "dtypes",
    "errors",
    "experimental",
    "feature_column",
    "graph_util",
    "lite",
    "lookup",
    "queue",
    "quantization",
    "raw_ops",
    "saved_model",
    "sets",
    "summary",
    "sysconfig",
    "test",
    "tpu",
    "train",
    "types",
    "xla",
    "autograph",
    "autodiff",
    "mixed_precision",
]
LIBRARY_NAMES = re.compile(
    r"\b(numpy|np|scipy|sklearn|scikit-learn|scikit|pandas|pd|matplotlib|mpl|pyplot|plt|"
    r"tensorflow|tf|keras)\b",
    re.IGNORECASE,
)
SIGNATURE = re.compile(r"^[\w.]+\(.*\)(\s*->.*)?$")


@dataclass(frozen=True)
class Settings:
    """What one run measures, full size or `--quick`."""

    per_class: int = 600
    epochs: int = 10
    batch: int = 32
    rounds: int = 20
    calls: int = 5
    verify_latency_runs: int = 50
    variants: bool = False


QUICK = Settings(per_class=60, epochs=2, rounds=2, calls=3, verify_latency_runs=5)


# The data set.


def _belongs(library: str, obj) -> bool:
    top = (getattr(obj, "__module__", None) or "").split(".")[0]
    if library == "stdlib":
        return top in sys.stdlib_module_names
    return top == library


def _modules(library: str) -> Iterator:
    for name in LIBRARIES[library]:
        try:
            module = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - an optional module (a missing extra): skipped
            continue
        yield module
        if library == "tensorflow":
            yield from (getattr(module, s) for s in TF_SUBMODULES if hasattr(module, s))


def _members(cls) -> Iterator:
    """The public methods and properties a class defines itself."""
    for name, member in sorted(vars(cls).items()):
        if name.startswith("_"):
            continue
        if isinstance(member, staticmethod | classmethod):
            member = member.__func__
        elif isinstance(member, property):
            member = member.fget
        if callable(member):
            yield member


def public_objects(library: str) -> Iterator:
    """Each public function and class of the library's modules, and its classes' members,
    once."""
    seen = set()
    for module in _modules(library):
        for attr in sorted(dir(module)):
            if attr.startswith("_"):
                continue
            try:
                obj = getattr(module, attr)
            except Exception:  # noqa: BLE001 - a lazy attribute that fails to load
                continue
            if inspect.ismodule(obj) or not callable(obj):
                continue
            if id(obj) in seen or not _belongs(library, obj):
                continue
            seen.add(id(obj))
            yield obj
            if inspect.isclass(obj):
                for member in _members(obj):
                    if id(member) not in seen:
                        seen.add(id(member))
                        yield member


def clean(doc: str) -> str:
    """A docstring as one line of text (see the module docstring)."""
    lines = []
    for line in inspect.cleandoc(doc).splitlines():
        line = line.strip()
        if line.startswith((">>>", "...")) or re.fullmatch(r"[-=~^*]{3,}", line):
            continue
        if not lines and SIGNATURE.match(line):
            continue
        lines.append(line)
    text = " ".join(LIBRARY_NAMES.sub("", " ".join(lines)).split())
    return text[:TEXT_CHARS].rsplit(" ", 1)[0] if len(text) > TEXT_CHARS else text


def docstring_set(per_class: int) -> tuple[list[tuple[str, str]], dict[str, dict[str, int]]]:
    """The (text, library) rows, and per library how many texts were found, kept unique to
    it, and drawn."""
    found = defaultdict(set)
    counts = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for library in LIBRARIES:
            n = 0
            for obj in public_objects(library):
                doc = getattr(obj, "__doc__", None)
                text = clean(doc) if isinstance(doc, str) else ""
                if len(text.split()) >= MIN_WORDS:
                    found[text].add(library)
                    n += 1
            counts[library] = {"docstrings": n}
    rng = random.Random(SAMPLE_SEED)
    rows = []
    for library in LIBRARIES:
        own = sorted(t for t, libraries in found.items() if libraries == {library})
        drawn = rng.sample(own, min(per_class, len(own)))
        counts[library] |= {"unique": len(own), "drawn": len(drawn)}
        rows += [(text, library) for text in drawn]
    counts["shared"] = {
        "texts under 2+ libraries, dropped": sum(len(v) > 1 for v in found.values())
    }
    random.Random(SAMPLE_SEED).shuffle(rows)
    return rows, counts


def write_csv(rows: list[tuple[str, str]], path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["docstring", "library"])
        writer.writerows(rows)
    return path


def describe_set(rows, counts, path: Path) -> None:
    words = [len(text.split()) for text, _ in rows]
    print(
        f"data: {path.name}, {len(rows):,} texts, {len({t for t, _ in rows}):,} distinct, "
        f"{path.stat().st_size:,} bytes; words a text: median {int(np.median(words))}, "
        f"mean {np.mean(words):.1f}, max {max(words)}"
    )
    for library, c in counts.items():
        print(f"  {library}: " + ", ".join(f"{k} {v:,}" for k, v in c.items()))
    for library in LIBRARIES:
        example = next(text for text, label in rows if label == library)
        print(f"  e.g. {library}: {example[:150]!r}")


# One Pipeline run per architecture.


def text_config(csv_path: Path, architecture: str, s: Settings):
    return tp.load_config(
        overrides={
            "data.source": "csv",
            "data.path": str(csv_path),
            "data.text_column": "docstring",
            "data.label_column": "library",
            "model.kind": "text",
            "model.text.architecture": architecture,
            "model.text.vocab_size": 10_000,
            "model.text.sequence_length": 64,
            "model.hidden_units": [64],
            "train.epochs": s.epochs,
            "train.batch_size": s.batch,
            "compress.prune.enabled": False,
            "export.tflite": list(VARIANTS if s.variants else ("float32", "int8")),
            "export.onnx": True,
            "export.saved_model": False,
            "export.keras": False,
            # Every file is kept, so that each can be timed; the verdict of the default gate
            # is printed from the manifest's figures instead.
            "verify.int8_min_agreement": 0.0,
            "verify.latency_runs": s.verify_latency_runs,
        }
    )


def run_architecture(csv_path: Path, architecture: str, folder: Path, s: Settings) -> dict:
    """One Pipeline run; returns its manifest (with the seconds it took)."""
    lines = []
    start = time.perf_counter()
    try:
        tp.Pipeline(text_config(csv_path, architecture, s), log=lines.append, verbose=0).run(folder)
    except tp.VerificationError as exc:  # the manifest is written first
        lines.append(f"VerificationError: {exc}")
    seconds = time.perf_counter() - start
    print(f"\n### {architecture}: Pipeline.run {seconds:.0f} s; its log:", flush=True)
    for line in "\n".join(lines).splitlines():
        print(f"  | {line}")
    manifest = json.loads((folder / "manifest.json").read_text())
    log = "\n".join(lines)
    manifest["bench"] = {
        "seconds": seconds,
        "folder": str(folder),
        "parameters": _logged_count(r"([\d,]+) parameters", log),
        "token_ids": _logged_count(r"tokenizer: ([\d,]+) token ids", log),
    }
    return manifest


def _logged_count(pattern: str, log: str) -> int:
    found = re.search(pattern, log)
    return int(found.group(1).replace(",", "")) if found else 0


def _artifact(manifest: dict, path: str) -> dict:
    return next(a for a in manifest["artifacts"] if a["path"] == path)


FILES = {"int8": "model_int8.tflite", "float32": "model_float32.tflite", "onnx": "model.onnx"}
VARIANTS = ("float32", "dynamic", "int8", "int16x8")


def report_accuracy(manifests: dict[str, dict]) -> None:
    first = next(iter(manifests.values()))
    sizes = first["data"]["split_sizes"]
    baseline = first["evaluation"]["baseline"]
    print(
        f"\n## accuracy: split train {sizes['train']} / val {sizes['val']} / test "
        f"{sizes['test']}; baseline {baseline['kind']} ({baseline['value']}, chosen on "
        f"val): val {baseline['val_accuracy']:.4f}, test {baseline['accuracy']:.4f}"
    )
    print(
        "| architecture | parameters | token ids | epochs run (best) | Pipeline.run s | val acc "
        "(best epoch) | test acc (Keras) | test acc - baseline (points) | float32 .tflite | "
        ".onnx |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, m in manifests.items():
        keras_acc, train, bench = m["keras_test_accuracy"], m["training"], m["bench"]
        base = m["evaluation"]["baseline"]["accuracy"]
        val = train["history"]["val_accuracy"][train["best_epoch"] - 1]
        f32, onnx = _artifact(m, FILES["float32"]), _artifact(m, FILES["onnx"])
        print(
            f"| {name} | {bench['parameters']:,} | {bench['token_ids']:,} | "
            f"{train['epochs_run']} ({train['best_epoch']}) | {bench['seconds']:.0f} | "
            f"{val:.4f} | {keras_acc:.4f} | {100 * (keras_acc - base):+.2f} | "
            f"{f32['test_accuracy']:.4f} | {onnx['test_accuracy']:.4f} |"
        )
    print(
        f"\n## int8 against float32 (test split; the default gate: decisive agreement >= "
        f"{DEFAULT_GATE})"
    )
    print(
        "| architecture | float32 .tflite acc | int8 .tflite acc | int8 - float32 (points) | "
        "top-1 agreement | decisive agreement (ties) | max abs diff | default gate |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name, m in manifests.items():
        f32, i8 = _artifact(m, FILES["float32"]), _artifact(m, FILES["int8"])
        verdict = "pass" if i8["decisive_agreement"] >= DEFAULT_GATE else "FAIL"
        if i8["ties"] == m["data"]["split_sizes"]["test"]:
            verdict += " (no decisive sample: every test sample a tie)"
        print(
            f"| {name} | {f32['test_accuracy']:.4f} | {i8['test_accuracy']:.4f} | "
            f"{100 * (i8['test_accuracy'] - f32['test_accuracy']):+.2f} | "
            f"{i8['top1_agreement']:.4f} | {i8['decisive_agreement']:.4f} ({i8['ties']}) | "
            f"{i8['max_abs_diff']:.3g} | {verdict} |"
        )


def report_sizes(manifests: dict[str, dict]) -> None:
    print("\n## sizes (bytes; gzip in brackets)")
    print("| architecture | int8 .tflite | float32 .tflite | .onnx | float32 / int8 | vocab.txt |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, m in manifests.items():
        f32, i8, ox = (_artifact(m, FILES[k]) for k in ("float32", "int8", "onnx"))
        vocab = Path(m["bench"]["folder"]) / "vocab.txt"
        print(
            f"| {name} | {i8['size_bytes']:,} ({i8['gzip_bytes']:,}) | "
            f"{f32['size_bytes']:,} ({f32['gzip_bytes']:,}) | "
            f"{ox['size_bytes']:,} ({ox['gzip_bytes']:,}) | "
            f"{f32['size_bytes'] / i8['size_bytes']:.2f}x | {vocab.stat().st_size:,} |"
        )


# Latency of `Predictor.predict(one string)`.


def latency_paths(folder: Path) -> dict:
    """Each path: a function of one string. The three runtimes (tokenizer included), and the
    tokenizer alone."""
    predictors = {
        "LiteRT int8": tp.Predictor.load(folder / FILES["int8"], num_threads=1),
        "LiteRT float32": tp.Predictor.load(folder / FILES["float32"], num_threads=1),
        "onnxruntime float32": tp.Predictor.load(folder / FILES["onnx"], num_threads=1),
    }
    paths = {name: p.predict for name, p in predictors.items()}
    paths["tokenizer alone"] = predictors["LiteRT float32"].input_spec.prepare
    return paths


def time_rounds(paths: dict, texts: list[str], rounds: int) -> dict[str, list[list[float]]]:
    """Milliseconds of each call, per round; the paths take turns, reversed every other
    round; call `i` of a round takes `texts[i]`."""
    names = list(paths)
    for run in paths.values():  # warm-up, untimed
        for text in texts[:5]:
            run(text)
    timings = {name: [] for name in names}
    for turn in range(rounds):
        for name in names if turn % 2 == 0 else names[::-1]:
            run, times = paths[name], []
            for text in texts:
                start = time.perf_counter()
                run(text)
                times.append((time.perf_counter() - start) * 1e3)
            timings[name].append(times)
    return timings


RATIOS = (
    ("LiteRT int8", "onnxruntime float32"),
    ("LiteRT float32", "onnxruntime float32"),
    ("LiteRT int8", "LiteRT float32"),
    ("tokenizer alone", "LiteRT int8"),
)


def report_latency(architecture: str, timings: dict) -> None:
    print(f"{architecture}:")
    print("| path | calls | median ms | p90 ms |")
    print("|---|---:|---:|---:|")
    for name, rounds in timings.items():
        every = np.concatenate(rounds)
        print(
            f"| {name} | {len(every)} | {np.median(every):.3f} | {np.percentile(every, 90):.3f} |"
        )
    for first, second in RATIOS:
        per_round = [
            np.median(a) / np.median(b)
            for a, b in zip(timings[first], timings[second], strict=True)
        ]
        low, middle, high = np.percentile(per_round, [25, 50, 75])
        print(f"  {first} / {second}: {middle:.2f} per round ({low:.2f}-{high:.2f})")


def latency(manifests: dict[str, dict], test_texts: list[str], s: Settings) -> None:
    print(
        f"\n## latency: Predictor.predict(one string), tokenizer included, 1 thread; "
        f"{s.rounds} rounds x {s.calls} calls per path (one test text per call); ratios: the "
        "median (quartiles) over the rounds of the per-round ratio of medians"
    )
    texts = test_texts[: s.calls]
    for name, m in manifests.items():
        paths = latency_paths(Path(m["bench"]["folder"]))
        report_latency(name, time_rounds(paths, texts, s.rounds))
        empty = {
            runtime: bool(np.all(np.isfinite(paths[runtime]("")))) for runtime in list(paths)[:3]
        }
        print(f"  predict('') (a text with no word) finite: {empty}")


def report_int8_ops(manifests: dict[str, dict]) -> None:
    """The ops of each int8 file, and those its conversion left in float."""
    print("\n## ops of the int8 .tflite files (from the manifest)")
    for name, m in manifests.items():
        i8 = _artifact(m, FILES["int8"])
        ops = ", ".join(f"{op} {n}" for op, n in sorted(i8["ops"].items()))
        print(f"  {name}: {ops}; left float: {', '.join(i8['float_ops']) or 'none'}")


def report_variants(manifests: dict[str, dict], test_texts: list[str], s: Settings) -> None:
    """Every `.tflite` variant of each run side by side, and one string's latency in each."""
    print(
        "\n## every .tflite variant (test split; agreement: top-1 with the Keras model, "
        f"decisive in brackets; gate: the default, decisive agreement >= {DEFAULT_GATE}); "
        f"latency: Predictor.predict(one string), LiteRT, 1 thread, {s.rounds} rounds x "
        f"{s.calls} calls in turns"
    )
    for name, m in manifests.items():
        folder = Path(m["bench"]["folder"])
        made = {a["variant"]: a for a in m["artifacts"] if a["format"] == "tflite"}
        kept = [v for v in VARIANTS if v in made and not made[v].get("removed")]
        paths = {
            v: tp.Predictor.load(folder / f"model_{v}.tflite", num_threads=1).predict for v in kept
        }
        timings = time_rounds(paths, test_texts, s.rounds)
        print(f"{name}:")
        print("| variant | test acc | agreement | gate | bytes | median ms | p90 ms |")
        print("|---|---:|---:|---|---:|---:|---:|")
        for v in kept:
            a, every = made[v], np.concatenate(timings[v])
            decisive = a.get("decisive_agreement", a["top1_agreement"])
            gate = "float" if v == "float32" else "pass" if decisive >= DEFAULT_GATE else "FAIL"
            print(
                f"| {v} | {a['test_accuracy']:.4f} | {a['top1_agreement']:.3f} "
                f"({decisive:.3f}) | {gate} | {a['size_bytes']:,} | {np.median(every):.3f} | "
                f"{np.percentile(every, 90):.3f} |"
            )
        for failure in m.get("failures", []):
            print(f"  not kept: {failure}")


def test_texts(csv_path: Path, n: int) -> list[str]:
    """`n` texts of the runs' test split (the same seeded split, prepared again)."""
    data = tp.prepare_data(text_config(csv_path, "bag", QUICK).data)
    return [str(t) for t in data.texts("test")[:n]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--architectures",
        default=",".join(ARCHITECTURES),
        help=f"comma-separated, of {', '.join(ARCHITECTURES)} (default: all)",
    )
    parser.add_argument(
        "--variants", action="store_true", help="also dynamic and int16x8, every variant compared"
    )
    parser.add_argument("--quick", action="store_true", help="everything tiny: a smoke check")
    args = parser.parse_args()
    chosen = [a.strip() for a in args.architectures.split(",") if a.strip()]
    unknown = [a for a in chosen if a not in ARCHITECTURES]
    if unknown:
        parser.error(f"unknown architecture(s) {', '.join(unknown)}; of {', '.join(ARCHITECTURES)}")
    s = dataclasses.replace(QUICK if args.quick else Settings(), variants=args.variants)
    print(machine(PACKAGES))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows, counts = docstring_set(s.per_class)
        csv_path = write_csv(rows, root / "docstrings.csv")
        print(f"data set built in {time.perf_counter() - start:.0f} s")
        describe_set(rows, counts, csv_path)
        manifests = {}
        for architecture in chosen:
            manifests[architecture] = run_architecture(
                csv_path, architecture, root / architecture, s
            )
        report_accuracy(manifests)
        report_sizes(manifests)
        report_int8_ops(manifests)
        texts = test_texts(csv_path, s.calls)
        latency(manifests, texts, s)
        if s.variants:
            report_variants(manifests, texts, s)
    print(f"\nwhole run: {time.perf_counter() - start:.0f} s; {load()}")


if __name__ == "__main__":
    main()
