"""The field of view shown under a recording's cells: an image of the plane and a label image
of the cells (`FieldOfView`), and the labels drawn from footprints or masks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

#: A cell's label covers the pixels of its footprint (mask) of at least this fraction of the
#: footprint's peak weight.
FOOTPRINT_FRACTION = 0.2


@dataclass(frozen=True)
class FieldOfView:
    """``image`` (Y, X) float32, ``labels`` (Y, X) int32 (0 = none, i + 1 = the i-th cell
    read), and ``kind``, what the image is ("mean image", "correlation image", …; each reader
    says which: `calscope.io.suite2p_fov`, `calscope.io.caiman`, `calscope.io.nwb`,
    `calscope.io.sources`)."""

    image: np.ndarray
    labels: np.ndarray
    kind: str


def footprint_labels(footprints: Iterable[np.ndarray], shape: tuple[int, int]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Label and weight images of the cells' (Y, X) ``footprints`` (weights ≥ 0), in order.

    Returns:
        (Y, X) int32 labels, i + 1 where the i-th footprint reaches `FOOTPRINT_FRACTION` of
        its peak (a later cell wins where two overlap), and (Y, X) float32 the sum of the
        footprints each scaled to a peak of 1.
    """
    labels = np.zeros(shape, dtype=np.int32)
    weights = np.zeros(shape, dtype=np.float32)
    for i, image in enumerate(footprints):
        peak = float(image.max(initial=0.0))
        if peak > 0:
            labels[image >= FOOTPRINT_FRACTION * peak] = i + 1
            weights += (image / peak).astype(np.float32)
    return labels, weights
