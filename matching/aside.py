"""Work for the second core while the solver's thread waits in HiGHS.

HiGHS's ``run`` releases the GIL (highspy), so while it runs another Python thread has the interpreter to itself;
the rest of the solve is numpy passes and Python that such a thread would slow down (it takes the GIL from them,
5 ms at a time).  `WhileWaiting` runs its steps on a thread of its own, only while the solver has it open (around
each ``run``), and stops between steps otherwise; and only when the caller's ``when`` says a core is idle: on a
machine busy with other work the thread would take CPU time from HiGHS's own (the library reads nothing of the
machine itself: its host answers, e.g. `web.cpu.idle_core`).  What it computes must not change anything
the solve computes (`matching.outcome` fills a memo of pair facts: the same facts whoever computes them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

# A pause after each step, the GIL free: the solver's thread back from HiGHS takes it then.  Without it, CPython
# hands the GIL to a thread that asks while another one computes only after its switch interval (5 ms): a 5 ms
# GIL-free wait beside 0.5 ms steps came back 9.4 ms late (median) against 0.5 ms with a 20 µs pause.
STEP_PAUSE = 20e-6
# While the machine is busy, the steps wait this long before they ask again.
BUSY_PAUSE = 2e-3


class WhileWaiting:
    """Steps of work run on another thread while the caller is inside ``with waiting:`` (blocked in HiGHS).

    Parameters
    ----------
    work : callable
        ``work(waiting)`` returns an iterator whose every ``next`` does one short step (~1 ms: the caller waits
        for the step in progress when it leaves the ``with``, as it waits for any thread holding the GIL);
        exhausted, the thread ends.  It may read ``waiting.chosen``.
    when : callable
        ``when(steps_running)``: asked as each wait begins whether to take steps during it, and before each step
        whether to go on (whether a core is idle: a machine busy with other work stops them).

    Attributes
    ----------
    chosen : tuple of two int arrays, or None
        The (craftsman, demand) index pairs the last flow LP run chose (`lp_chose`, called by the solver).

    Notes
    -----
    Call `finish` once the waits are over: it stops the steps (the one in progress ends first) and raises the
    error a step raised, if any.  Entering and leaving are cheap and may be repeated (one per HiGHS run).

    Examples
    --------
    >>> done = []
    >>> waiting = WhileWaiting(lambda waiting: (done.append(n) for n in range(3)), when=lambda *_: True)
    >>> with waiting:
    ...     pass  # the solver's wait
    >>> waiting.finish()  # done holds the steps taken meanwhile: 0 to 3 of them
    >>> done == list(range(len(done)))
    True
    """

    def __init__(self, work: Callable[[WhileWaiting], Iterator[object]], when: Callable[[bool], bool]) -> None:
        self._when = when
        self.chosen: tuple[np.ndarray, np.ndarray] | None = None
        self._steps = work(self)
        self._open = threading.Event()
        self._news = threading.Event()
        self._stopped = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="while-waiting", daemon=True)
        self._thread.start()

    def __enter__(self) -> WhileWaiting:
        if self._when(False):
            self._open.set()
        return self

    def __exit__(self, *exc: object) -> None:
        self._open.clear()

    def _work(self) -> None:
        try:
            while True:
                self._open.wait()
                if self._stopped:
                    return
                if not self._when(True):  # busy now: ask again a little later
                    time.sleep(BUSY_PAUSE)
                    continue
                next(self._steps)
                time.sleep(STEP_PAUSE)
        except StopIteration:
            return
        except BaseException as error:  # handed to the caller by `finish`
            self._error = error

    def lp_chose(self, pair_c: np.ndarray, pair_d: np.ndarray) -> None:
        """The solver's news: the pairs its last LP run chose (they may be chosen in the end)."""
        self.chosen = (pair_c, pair_d)
        self._news.set()

    def news(self, seen: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray] | None:
        """For a step: the LP's choice once it is another than ``seen`` (blocking, GIL free, until then); None once
        finished."""
        while not self._stopped:
            chosen = self.chosen
            if chosen is not None and chosen is not seen:
                return chosen
            self._news.wait()
            self._news.clear()
        return None

    def finish(self, *, raising: bool = True) -> None:
        """Stop taking steps, wait for the one in progress, and raise a step's error (unless not ``raising``)."""
        self._stopped = True
        self._news.set()
        self._open.set()
        self._thread.join()
        if raising and self._error is not None:
            raise self._error


@contextmanager
def working_aside(work: Callable[[WhileWaiting], Iterator[object]],
                  when: Callable[[bool], bool]) -> Iterator[WhileWaiting]:
    """A `WhileWaiting` for the block, finished at its end (an error of the block wins over a step's)."""
    waiting = WhileWaiting(work, when)
    try:
        yield waiting
    except BaseException:
        waiting.finish(raising=False)
        raise
    waiting.finish()
