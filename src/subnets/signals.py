"""Stop signals: a SIGTERM (what SLURM sends before it kills a preempted or timed-out job) is caught instead of
ending the process at once, so that a training run can save its resume state at the next step boundary, and a
launcher can pass it on to the processes it started.

Signal handlers can only be installed from the main thread: elsewhere SIGTERM keeps its default.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:
    import torch


@contextlib.contextmanager
def sigterms_caught(on_signal: Callable[[int], None] | None = None, *, enabled: bool = True) -> Iterator[list[int]]:
    """While the block runs, each SIGTERM is appended to the yielded list (and handed to ``on_signal``) instead
    of ending the process; the previous handler is back afterwards. Not ``enabled``, or outside the main
    thread, nothing is installed and the list stays empty."""
    received: list[int] = []
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum, frame):
        received.append(signum)
        if on_signal is not None:
            on_signal(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def stop_requests(
    enabled: bool, world_size: int = 1, device: "torch.device | None" = None
) -> Iterator[Callable[[], int]]:
    """Catch SIGTERMs during training (when ``enabled``: when there is a state to save) and yield ``pending()``,
    the signal to stop on at this step boundary (0: none).

    In a data-parallel run (``world_size`` > 1, ``device`` the process's) ``pending()`` is a collective that
    every process calls at every step boundary: it returns the largest signal any process received, so that all
    stop after the same step, whichever got the signal.
    """
    with sigterms_caught(enabled=enabled) as received:

        def pending() -> int:
            signum = received[0] if received else 0
            if world_size == 1 or not enabled:
                return signum
            import torch
            import torch.distributed as dist

            agreed = torch.tensor([signum], device=device)
            dist.all_reduce(agreed, op=dist.ReduceOp.MAX)
            return int(agreed.item())

        yield pending
