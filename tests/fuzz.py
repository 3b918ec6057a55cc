"""Bad-input fuzzing: each case feeds one bad input to a public entry point and is judged.

A case is *clear* when the call raises one of the expected exception types (or, for the CLI,
exits non-zero with one line and no traceback) and the message names every word in `names`
(case-insensitive: the argument, flag or file, and what was wrong); *unclear* when it fails any
other way; *silent* when it returns normally; *damage* when a file that existed before changed.
Every test module that fuzzes registers its outcomes here, and `conftest.py` prints the totals
at the end of the run ("fuzz: N cases: N clear, 0 unclear, 0 silent, 0 damage").
"""

import collections
import dataclasses
import hashlib
import os
from collections.abc import Callable

import tensorflow as tf

OUTCOMES = collections.Counter()
FAILURES = {}

# What an entry point may raise for bad input: Python's own argument errors, TF's for in-graph
# checks, and the file errors of missing or unreadable data.
CLEAR_ERRORS = (ValueError, TypeError, tf.errors.InvalidArgumentError, FileNotFoundError, PermissionError)


@dataclasses.dataclass
class Case:
    """`call()` makes the bad call; `names` are words the error message must contain."""

    id: str
    call: Callable[[], object]
    names: tuple = ()
    errors: tuple = CLEAR_ERRORS

    def __post_init__(self):
        if isinstance(self.names, str):
            self.names = (self.names,)


def judge(case: Case, watched_dir: str | None = None) -> tuple[str, str]:
    """Run `case` and return (outcome, detail); the outcome is also counted in OUTCOMES."""
    before = snapshot(watched_dir) if watched_dir else None
    try:
        result = case.call()
    except case.errors as err:
        message = str(err)
        missing = [n for n in case.names if n.lower() not in message.lower()]
        outcome, detail = ("unclear", f"message misses {missing}: {message[:300]}") if missing else ("clear", message)
    except Exception as err:  # noqa: BLE001 - what we judge
        outcome, detail = "unclear", f"{type(err).__name__}: {str(err)[:300]}"
    else:
        outcome, detail = "silent", f"returned {str(result)[:200]}"
    if before is not None and snapshot(watched_dir) != before:
        outcome, detail = "damage", f"files in {watched_dir} changed ({detail})"
    record(case.id, outcome, detail)
    return outcome, detail


def record(case_id: str, outcome: str, detail: str) -> None:
    OUTCOMES[outcome] += 1
    if outcome != "clear":
        FAILURES[case_id] = f"{outcome}: {detail}"


def check(case: Case, watched_dir: str | None = None) -> None:
    """Assert that `case` is clear (the body of each parametrized fuzz test)."""
    outcome, detail = judge(case, watched_dir)
    assert outcome == "clear", f"{case.id}: {outcome}: {detail}"


def snapshot(directory: str) -> dict:
    """Path -> content hash of every file under `directory` (what "nothing changed" compares)."""
    files = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, directory)] = hashlib.sha256(f.read()).hexdigest()
    return files


def summary() -> str | None:
    total = sum(OUTCOMES.values())
    if not total:
        return None
    parts = ", ".join(f"{OUTCOMES[k]} {k}" for k in ("clear", "unclear", "silent", "damage"))
    return f"fuzz: {total} cases: {parts}"
