"""Loading many modules in a process, with the cyclic garbage collector out of the way.

Importing allocates hundreds of thousands of objects that live as long as the process does (modules, classes,
functions, tables), and CPython 3.11 looks for reference cycles every 700 allocations: among the youngest
objects, and now and then among all of them. So a large import pays for collections that walk what it has
just made, and every full collection afterwards walks it all again.

Around a large import the collector is paused, and afterwards every object alive is moved into the permanent
generation (`gc.freeze`), which no collection looks at again. The collector then runs as before for what the
process does next, so the cycles its own work makes are still collected. Measured on the 2-core build machine
(2026-12-07, CPU seconds, median of 20): the lab process's imports 0.273 -> 0.221, the official client's 0.342
-> 0.298; over a whole `./labctl test`, the CPU the collector took in every Python process fell from 15.0 to
7.4 s (counted with gc.callbacks), and a test file's CPU by 5-10% (paired runs of three files).

The price, accepted: reference cycles that are already garbage when the freeze comes are never collected
(about 1,750 objects, 0.4 MB, after the client's import; as many after the lab process's imports). It is paid
once per pause, never per request, so a lab process running for hours does not grow from it.
"""
from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_open = 0  # pauses not yet resumed, in every thread (the client is imported from two at once)
_resume_running = False  # whether the collector ran before the first of them


def pause() -> None:
    """The collector paused until every `pause` has its `resume`."""
    global _open, _resume_running
    with _lock:  # reading the collector's state and changing it must be one step: another thread may do both
        if _open == 0:
            _resume_running = gc.isenabled()
            gc.disable()
        _open += 1


def resume() -> None:
    """The last open pause ended: everything alive frozen, and the collector running again if it ran before."""
    global _open
    with _lock:
        _open -= 1
        if _open == 0:
            gc.freeze()
            if _resume_running:
                gc.enable()


@contextmanager
def importing() -> Iterator[None]:
    """`pause` and `resume` around a block of imports."""
    pause()
    try:
        yield
    finally:
        resume()
