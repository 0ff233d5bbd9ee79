"""Tasks that run on their own in the lab process, held until they finish.

asyncio keeps only weak references to tasks: a task nothing else holds (a connection's handler
waiting on a stream whose protocol keeps its reader weakly) can be garbage-collected mid-await,
which closes its connection for no reason a user could see. Everything started in the
background goes through `spawn`.
"""
from __future__ import annotations

import asyncio
from typing import Coroutine

_running: set[asyncio.Task] = set()


def spawn(coro: Coroutine) -> asyncio.Task:
    task = asyncio.get_running_loop().create_task(coro)
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task
