"""cases.py — the named-case runner shared by spec.py, spec2.py and auth.py: @case
registers a test function, run() executes the registered cases (all, or those named on
the command line), prints "ok NAME" or "FAIL NAME: why" for each and a count last, and
exits non-zero if any failed (VERBOSE=1 adds the traceback)."""
import os
import sys
import time
import traceback

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def uniq(name):
    """A client id / topic fragment no other case or run uses."""
    return "%s-%d-%d" % (name, os.getpid(), int(time.time() * 1000) % 100000)


def run():
    want = set(sys.argv[1:])
    chosen = [fn for fn in CASES if not want or fn.__name__ in want]
    failed = 0
    for fn in chosen:
        try:
            fn()
            print("ok", fn.__name__, flush=True)
        except Exception as e:  # noqa: BLE001
            failed += 1
            print("FAIL %s: %s" % (fn.__name__, e or type(e).__name__), flush=True)
            if os.environ.get("VERBOSE"):
                traceback.print_exc()
    print("%d cases, %d failed" % (len(chosen), failed))
    sys.exit(1 if failed else 0)
