"""Ctrl-C during a long export stops the statement and its downloads, and the session goes on."""

from __future__ import annotations

import os
import signal
import threading
import time

from mpsql.cli.main import EXIT_INTERRUPTED, EXIT_OK
from mpsql.demo import demo_emulator

LONG_EXPORT = "SELECT count(*) AS n FROM mp_export(current_date - 90, current_date - 1);"  # 14 windows


def test_ctrl_c_stops_a_long_export_and_its_http_transfers(make_repl):
    repl = make_repl(demo=True, account=None)
    emulator = demo_emulator()

    def exports() -> int:
        return sum(1 for r in emulator.requests if r.path.endswith("/export"))

    before = exports()

    def press_ctrl_c() -> None:  # as the terminal would: SIGINT to the process, once two windows were asked for
        deadline = time.monotonic() + 60
        while exports() < before + 2:
            if time.monotonic() > deadline:
                return
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    assert repl.submit(LONG_EXPORT) == EXIT_INTERRUPTED
    presser.join()
    assert "mpsql: interrupted" in repl.err.getvalue()
    assert "│ n" not in repl.stdout.getvalue()

    # The export's download thread ends with the statement, and no further window is requested.
    deadline = time.monotonic() + 10
    while any(t.name == "mpsql-export" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(t.name == "mpsql-export" for t in threading.enumerate())
    # The emulator logs a request when its response ends, so one cut short shows up a little later.
    counts = [exports()]
    while len(counts) < 3 or counts[-1] != counts[-3]:
        time.sleep(0.25)
        counts.append(exports())
    assert counts[-1] - before < 6  # the two seen, plus at most the ones already under way; never all 14

    assert repl.submit("SELECT 42 AS answer;") == EXIT_OK
    assert "│      42 │" in repl.stdout.getvalue()
