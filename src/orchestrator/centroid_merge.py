"""The numeric loop of a block of centroid merges, compiled with numba (one call per block).

``clusters._Group`` keeps a brand's centroids of one (model, dimension) as rows of a float32
matrix with, per row, its weight, |r|^2, r.m (m: the mean the centred rule centres on) and
1/|r-m|. A block is the incoming centroids of several results, merged in order: each goes into
the most similar row when the similarity reaches the threshold, or becomes a new row. The
caller computes the block's matrix products (``dots``: every centroid against every row;
``gram``: the centroids against each other); this loop then decides and merges centroid after
centroid, keeping the products current as rows change, so the outcome is the one of merging
them one at a time. The rules and their arithmetic are explained in ``clusters``.

Compiled because the work per merge is small (a few hundred products) and sequential: in
numpy each merge cost ~25 calls of 0.5-2 µs each. The first call on a machine compiles it
(7-11 s of CPU here); numba caches the machine code on disk (``merge_loop``), so later processes
read it in half a second. numba is imported on first use.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Floats32 = npt.NDArray[np.float32]


class Rows(NamedTuple):
    """A group's rows (capacity >= rows in use + the block's centroids) and its mean."""

    rows: Floats32  # (capacity, dimension)
    squares: Floats  # |r|^2
    sizes: Floats  # weights: max(size, 1), plus the weight of each centroid merged in
    row_mean: Floats  # r.m
    inverse: Floats  # 1/|r-m| (1/|r| without a mean)
    total: Floats  # centred rule: sum of weight * row (kept as rows change)
    mean: Floats  # m, when ``state[HAS_MEAN]``
    state: Floats  # WEIGHT, HAS_MEAN, MEAN_SQUARE


WEIGHT, HAS_MEAN, MEAN_SQUARE = 0, 1, 2


class Block(NamedTuple):
    """A block's centroids and the products the loop keeps current."""

    matrix: Floats32  # (centroids, dimension)
    weights: Floats  # max(size, 1) of each
    gram: Floats32  # matrix @ matrix.T
    dots: Floats32  # (centroids, capacity): row k holds x_k's products with every row
    to_mean: Floats  # x_k.m
    projections: Floats  # centred rule: every row's r.T (T: the weighted sum, ``_include``)
    to_sum: Floats  # centred rule: x_k.T
    starts: npt.NDArray[np.int64]  # result i's centroids are slots starts[i]:starts[i+1]
    targets: npt.NDArray[np.int64]  # out: each centroid's row
    created: npt.NDArray[np.bool_]  # out: whether it made that row


class Rule(NamedTuple):
    threshold: float
    tolerance: float  # "at the threshold": within this
    recheck: float  # similarities this close to the threshold are computed again in float64
    centred: bool
    min_to_centre: int  # centroids needed before the centred rule applies
    recentre: float  # re-centre when the mean moved by this share of its length


def merge_block(group: Rows, block: Block, rule: Rule, used: int) -> int:
    """Merge the block's centroids into the group's first ``used`` rows, in order (each one's
    row and whether it made it: ``block.targets``, ``block.created``); the rows in use after."""
    return int(load().run(group, block, rule, used))


def load() -> ModuleType:
    """The compiled loop: imported, and compiled or read from numba's cache, on first use
    (seconds the first time on a machine, half a second after); safe from any thread."""
    from orchestrator import merge_loop  # noqa: PLC0415 - numba takes half a second to import

    if not merge_loop.run.signatures:  # compile (or read) it now, on one centroid
        one = np.zeros(1)
        rows = Rows(np.zeros((1, 1), np.float32), one, one, one, one, one, one, np.zeros(3))
        matrix = np.ones((1, 1), np.float32)
        block = Block(matrix, np.ones(1), matrix @ matrix.T, np.zeros((1, 1), np.float32),
                      np.zeros(1), np.zeros(1), np.zeros(1), np.array([0, 1]),
                      np.zeros(1, np.int64), np.zeros(1, np.bool_))  # fmt: skip
        merge_loop.run(rows, block, Rule(0.75, 1e-6, 1e-4, True, 3, 1e-3), 0)
    return merge_loop


def loaded() -> bool:
    """Whether the loop is ready (``load`` would not compile nor read it)."""
    module = sys.modules.get("orchestrator.merge_loop")
    return module is not None and bool(module.run.signatures)


if __name__ == "__main__":  # `python -m orchestrator.centroid_merge`: compile it now (make, image)
    # through the module by its name: numba types the loop by this module's classes, and
    # ``__main__``'s copies would be cached as other types
    importlib.import_module("orchestrator.centroid_merge").load()
