"""Mutation check of the modules that hold the package's promises, with a score per module.

Runs mutmut (configured in `pyproject.toml`, `[tool.mutmut]`: which modules are mutated and
which fast tests judge them), then prints, per module, how many mutants the tests killed
and every survivor. Survivors are sorted into:

- wording: the mutant changes only the text of a message (a string literal holding a space,
  nothing else on the line): what the message says is checked where it matters, its every
  word is not;
- import-time: the mutated function runs only while the package is imported (`_schema.rule`
  and `_schema.setting` build the config's field rules), before mutmut switches a mutant
  on, so no test can see the mutant;
- other: a survivor no test kills. Each is listed with its diff.

Usage (from the repository root, after `pip install -e ".[dev,mutation]"`):

    python bench/mutation.py            # run the mutants, then report
    python bench/mutation.py --report   # report the last run's results only
"""

from __future__ import annotations

import argparse
import collections
import io
import re
import subprocess
import sys
import tokenize

IMPORT_TIME = (
    "tfpipeline._schema.x_rule__",
    "tfpipeline._schema.x_setting__",
    "tfpipeline.run_folder.xǁ_LayoutNameǁ__init__",  # the run folder's layout, a class body
)
KILLED = ("killed", "timeout")  # a mutant that makes the tests hang is caught too


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true", help="report the last run only")
    parser.add_argument("--max-children", type=int, default=2)
    args = parser.parse_args()
    if not args.report:
        subprocess.run(
            ["mutmut", "run", "--max-children", str(args.max_children)],
            check=False,
            stdout=subprocess.DEVNULL,
        )
    statuses = _statuses()
    survivors = {name: _diff(name) for name, status in statuses.items() if status == "survived"}
    kinds = {name: _kind(name, diff) for name, diff in survivors.items()}
    _print_table(statuses, kinds)
    for name, kind in sorted(kinds.items()):
        if kind == "other":
            print(f"\nsurvivor {name}:\n{survivors[name]}")


def _statuses() -> dict[str, str]:
    """Each mutant's status, as `mutmut results --all true` prints it."""
    from mutmut.__main__ import SourceFileMutationData, status_by_exit_code, walk_mutatable_files

    statuses = {}
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        statuses.update({k: status_by_exit_code[v] for k, v in data.exit_code_by_key.items()})
    return statuses


def _diff(name: str) -> str:
    """The mutant's changed lines (`-` original, `+` mutant), as `mutmut show` prints them."""
    from mutmut.__main__ import find_mutant, get_diff_for_mutant

    text = get_diff_for_mutant(name, path=find_mutant(name).path)
    return "\n".join(
        line
        for line in text.splitlines()
        if line[:1] in "-+" and not line.startswith(("---", "+++"))
    )


def _kind(name: str, diff: str) -> str:
    if name.startswith(IMPORT_TIME):
        return "import-time"
    removed = [line[1:] for line in diff.splitlines() if line.startswith("-")]
    added = [line[1:] for line in diff.splitlines() if line.startswith("+")]
    if len(removed) == len(added) == 1 and _only_message_text_differs(removed[0], added[0]):
        return "wording"
    return "other"


def _only_message_text_differs(original: str, mutant: str) -> bool:
    """Whether the two lines differ only in string literals, and those hold a space (a
    message, not a key, name or format that code compares)."""
    before, after = _tokens(original), _tokens(mutant)
    if before is None or after is None or len(before) != len(after):
        return False
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    return bool(changed) and all(
        a[0] == b[0] == tokenize.STRING and " " in a[1].strip("'\"") for a, b in changed
    )


def _tokens(line: str) -> list[tuple[int, str]] | None:
    try:
        tokens = tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline)
        return [(t.type, t.string) for t in tokens if t.type != tokenize.NEWLINE]
    except (tokenize.TokenError, SyntaxError):
        return None


def _module(name: str) -> str:
    return re.split(r"\.x[_ǁ]", name, maxsplit=1)[0]


def _print_table(statuses: dict[str, str], kinds: dict[str, str]) -> None:
    rows: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for name, status in statuses.items():
        row = rows[_module(name)]
        row["mutants"] += 1
        row["killed"] += status in KILLED
        row[kinds.get(name, status)] += status == "survived"
        row["no tests"] += status == "no tests"
        row["not run"] += status not in (*KILLED, "survived", "no tests")
    print(
        "| module | mutants | killed | survived: wording | import-time | other | no tests "
        "| not run | killed / all | killed / all but wording and import-time |"
    )
    print("|---|" + "---:|" * 9)
    total: collections.Counter = collections.Counter()
    for module, row in sorted(rows.items()):
        print(_row(module, row))
        total.update(row)
    print(_row("all", total))


def _row(module: str, row: collections.Counter) -> str:
    explained = row["wording"] + row["import-time"]
    judged = row["mutants"] - row["not run"]
    raw = row["killed"] / judged if judged else 0.0
    net = row["killed"] / (judged - explained) if judged > explained else 0.0
    cells = [row[k] for k in ("mutants", "killed", "wording", "import-time", "other")]
    cells += [row["no tests"], row["not run"]]
    return f"| {module} | " + " | ".join(map(str, cells)) + f" | {raw:.1%} | {net:.1%} |"


if __name__ == "__main__":
    sys.exit(main())
