"""Runs one experiment script's `main` in this process for many argument lists (see fuzz_cli_test).

python tests/cli_fuzz_driver.py SCRIPT CASES_JSON OUT_JSON

CASES_JSON: [{"id", "args", "watch"}]; for each case the script runs as from the command line
(through `_cli.run`, flags reset between cases) and OUT_JSON gets {id: {"code", "stderr",
"changed"}}, `changed` listing the files under `watch` whose content changed.
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


def main(script, cases_path, out_path):
    import _cli

    spec = importlib.util.spec_from_file_location("fuzzed_script", os.path.join(ROOT, "experiments", script))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with open(cases_path) as f:
        cases = json.load(f)
    results = {}
    for case in cases:
        flags.FLAGS.unparse_flags()
        watch = case.get("watch")
        before = snapshot(watch) if watch else {}
        err = io.StringIO()
        code = 0
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                _cli.run(module.main, argv=[script, *case["args"]])
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
        after = snapshot(watch) if watch else {}
        changed = sorted(k for k in before if after.get(k) != before[k])
        results[case["id"]] = {"code": code, "stderr": err.getvalue(), "changed": changed}
    with open(out_path, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
