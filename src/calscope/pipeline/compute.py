"""Where parallel work runs: the one helper that maps a stage's independent pieces (today
CNMF's spatial patches) over a dask.distributed cluster, or None for this process alone.

At most two pieces per worker are in flight at once, so the driver holds only that many
pieces' data (each is read from the movie as it is submitted, and sent to its worker).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from typing import Any

import numpy as np

from calscope.config import ComputeSettings
from calscope.errors import InputError
from calscope.extract.patches import PatchMap

#: Pieces in flight per worker.
IN_FLIGHT_PER_WORKER = 2
#: Seconds to wait for a scheduler at an address.
CONNECT_TIMEOUT_S = 20
#: Arguments larger than this (bytes) are scattered to the workers before the task.
SCATTER_BYTES = 1 << 20


@contextmanager
def patch_map(settings: ComputeSettings) -> Iterator[PatchMap | None]:
    """A ``map_patches`` for `calscope.extract.cnmf` as ``settings`` say: None (no
    scheduler: in this process), a local cluster of worker processes started here and
    closed on exit, or a client of the scheduler at an address (left running)."""
    if settings.scheduler is None:
        yield None
        return
    from distributed import Client, LocalCluster

    with ExitStack() as stack:
        if settings.scheduler == "local":
            workers = settings.workers or os.cpu_count() or 1
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True,
                dashboard_address=None))
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(settings.scheduler,
                                                    timeout=CONNECT_TIMEOUT_S))
            except (OSError, TimeoutError) as error:
                raise InputError(f"compute.scheduler {settings.scheduler!r}: no dask "
                                 f"scheduler answered ({type(error).__name__}); start one "
                                 "(`dask scheduler`) or use 'local'") from None
            workers = max(1, len(client.scheduler_info().get("workers", {})))
        yield partial(_windowed_map, client, window=IN_FLIGHT_PER_WORKER * workers)


def _windowed_map(client: Any, function: Callable[..., Any],
                  arguments: Iterable[tuple[Any, ...]], window: int) -> Iterator[Any]:
    """``function(*args)`` on the cluster for each tuple of ``arguments``, results in order,
    with at most ``window`` submitted and not yet collected."""
    pending: deque[Any] = deque()
    for args in arguments:
        # large arrays (a patch's pixels) go to the workers directly, not inside the task
        sent = [client.scatter(arg)
                if isinstance(arg, np.ndarray) and arg.nbytes > SCATTER_BYTES else arg
                for arg in args]
        pending.append(client.submit(function, *sent, pure=False))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
