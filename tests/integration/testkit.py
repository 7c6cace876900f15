"""What the integration scripts that count their checks share (pipeline_harness raises on a
failed check instead): a free loopback port, checks that count and print "FAIL: ...", and the
closing "N passed, N failed" line with the exit code. One script per process, so the counts
are module globals.
"""
import socket

passed = 0
failed = 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check(cond, what):
    """Counts one check; prints "FAIL: what" when cond is false. Returns cond."""
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: %s" % (what,), flush=True)
    return cond


def check_named(name, cond, detail=""):
    """check() with a name and a detail, printed "FAIL: name detail"."""
    return check(cond, f"{name} {detail}")


def failures():
    return failed


def summary():
    """Prints "N passed, N failed"; returns the exit code: 1 on a failure or if nothing passed."""
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0
