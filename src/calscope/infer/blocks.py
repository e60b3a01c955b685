"""Blocks of cells for the networks' inference: memory bounded by the block, not the input."""

from __future__ import annotations

from collections.abc import Callable, Iterator

#: cells × frames inferred together (~2 M samples: the working set stays in the caches)
BLOCK_SAMPLES = 2_000_000


def cell_blocks(cells: int, frames: int, progress: Callable[[int, int], None] | None = None
                ) -> Iterator[slice]:
    """Consecutive row slices of a (cells, frames) array, each of about :data:`BLOCK_SAMPLES`
    samples (at least one cell); after each block is used, ``progress(cells done, cells)``."""
    step = max(1, BLOCK_SAMPLES // max(frames, 1))
    for start in range(0, cells, step):
        rows = slice(start, min(start + step, cells))
        yield rows
        if progress is not None:
            progress(rows.stop, cells)
