"""Whether this machine has a core to spare now: the web process's answer to `matching.aside`'s question.

The matching library takes no reading of the machine itself (no I/O there); the server, which shares its cores
with other workers and other work, tells it (`matching.outcome.run_round(beside_solver=…)`).
"""

from __future__ import annotations

import os

LOADAVG = "/proc/loadavg"


def idle_core(steps_running: bool = False) -> bool:
    """Whether a core is free for work beside the solver: fewer threads run on the machine right now than it has
    cores, the caller's among them (and, when ``steps_running``, that work's own: then as many as it has cores).

    Linux's instantaneous count (``/proc/loadavg``'s fourth field); elsewhere, assumed so.
    """
    try:
        with open(LOADAVG, "rb") as loadavg:
            running = int(loadavg.read().split()[3].split(b"/")[0])
    except (OSError, IndexError, ValueError):
        return True
    return running - steps_running < (os.cpu_count() or 1)
