"""The compat scripts' test loop: each test run, reported on a line of its own, a summary line,
and the exit status (1 when one failed)."""

import sys
import traceback


def run(label, tests):
    passed = failed = 0
    for t in tests:
        try:
            t()
            passed += 1
            print(f"ok      {label} {t.__name__}")
        except Exception:  # noqa: BLE001 - every failure is reported the same way
            failed += 1
            print(f"FAILED  {label} {t.__name__}\n{traceback.format_exc()}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
