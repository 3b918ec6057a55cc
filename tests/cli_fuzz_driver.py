"""Runs the experiment scripts' `main` in this process for many argument lists (see fuzz_cli_test).

python tests/cli_fuzz_driver.py CASES_JSON OUT_JSON

CASES_JSON: [{"id", "script", "args", "watch"}]; each case runs its script as from the command
line (through `_cli.run`, flags reset between cases), and OUT_JSON gets {"script:id": {"code",
"stdout", "stderr", "changed"}}, `changed` listing the files under `watch` (optional) whose content
changed. TensorFlow starts once for all the scripts: each script is loaded when its first case
comes, and the flags it defined are removed before the next script is loaded (the scripts define
flags of the same names).
"""

import contextlib
import importlib.util
import io
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "experiments")]

from absl import flags  # noqa: E402

from tests.fuzz import snapshot  # noqa: E402


def _load(script):
    """The script as a module (its flags defined), and the names of the flags it added."""
    before = set(flags.FLAGS)
    spec = importlib.util.spec_from_file_location(f"fuzzed_{script[:-3]}", os.path.join(ROOT, "experiments", script))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, set(flags.FLAGS) - before


def main(cases_path, out_path):
    import _cli

    with open(cases_path) as f:
        cases = json.load(f)
    results, script, module, defined = {}, None, None, set()
    for case in sorted(cases, key=lambda c: c["script"]):  # each script loaded once
        if case["script"] != script:
            for name in defined:
                delattr(flags.FLAGS, name)
            script = case["script"]
            module, defined = _load(script)
        flags.FLAGS.unparse_flags()
        watch = case.get("watch")
        before = snapshot(watch) if watch else {}
        out, err = io.StringIO(), io.StringIO()
        code = 0
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                _cli.run(module.main, argv=[script, *case["args"]])
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
        after = snapshot(watch) if watch else {}
        changed = sorted(k for k in before if after.get(k) != before[k])
        results[f"{script}:{case['id']}"] = {
            "code": code,
            "stdout": out.getvalue(),
            "stderr": err.getvalue(),
            "changed": changed,
        }
    with open(out_path, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
