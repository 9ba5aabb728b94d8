"""The compiled loop of ``centroid_merge.merge_block`` (numba, ``nopython``).

Imported on first use: numba takes about half a second to import. The first call compiles
(seconds) and numba caches the machine code on disk (``__pycache__`` beside this file, else
the user's cache directory, or ``NUMBA_CACHE_DIR``), so later processes load it.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from orchestrator.centroid_merge import HAS_MEAN, MEAN_SQUARE, WEIGHT, Block, Rows, Rule

_jit = numba.njit(cache=True, error_model="numpy")
_inline = numba.njit(inline="always", error_model="numpy")  # compiled as part of ``run``


@_jit
def run(group: Rows, block: Block, rule: Rule, used: int) -> int:
    """Merge the block's centroids in order (see ``centroid_merge.merge_block``)."""
    for result in range(len(block.starts) - 1):
        start, stop = block.starts[result], block.starts[result + 1]
        if rule.centred:
            _include(block, start, stop, used)
            _centre(group, block, rule, result, used)
        for slot in range(start, stop):
            row = _most_similar(group, block, rule, slot, used)
            if row >= 0:
                _merge(group, block, rule, slot, row)
            else:
                row, used = used, used + 1
                _create(group, block, rule, slot, row)
                block.created[slot] = True
            if rule.centred:  # the weighted sum gains w x (exactly so in real numbers)
                weight = block.weights[slot]
                group.state[WEIGHT] += weight
                for i in range(len(group.total)):
                    group.total[i] += weight * block.matrix[slot, i]
            _settle(group, row)
            block.targets[slot] = row
    return used


@_inline
def _include(block: Block, start: int, stop: int, used: int) -> None:
    """Add w_k x_k of slots start:stop to T, and so to every product with it."""
    for k in range(start, stop):
        weight = block.weights[k]
        for row in range(used):
            block.projections[row] += weight * block.dots[k, row]
        for j in range(len(block.to_sum)):
            block.to_sum[j] += weight * block.gram[j, k]


@_inline
def _centre(group: Rows, block: Block, rule: Rule, result: int, used: int) -> None:
    """Centre the similarities of the result's slots on the mean of every centroid, the
    group's and the result's; kept where it was when it moved less than ``rule.recentre`` of
    its length."""
    start, stop = block.starts[result], block.starts[result + 1]
    state = group.state
    if stop - start + used < rule.min_to_centre:
        if state[HAS_MEAN] > 0:  # too few to centre on: raw cosine
            state[HAS_MEAN] = 0.0
            for row in range(used):
                group.inverse[row] = 1.0 / math.sqrt(max(group.squares[row], 1e-30))
            block.to_mean[:] = 0.0
        return
    weight = state[WEIGHT]
    mean = group.total.copy()
    for k in range(start, stop):
        weight += block.weights[k]
        for i in range(len(mean)):
            mean[i] += block.weights[k] * block.matrix[k, i]
    moved = mean_square = 0.0
    for i in range(len(mean)):
        mean[i] /= weight
        moved += (mean[i] - group.mean[i]) ** 2
        mean_square += mean[i] * mean[i]
    if state[HAS_MEAN] > 0 and math.sqrt(moved) <= rule.recentre * math.sqrt(state[MEAN_SQUARE]):
        return
    group.mean[:] = mean
    state[MEAN_SQUARE] = mean_square
    state[HAS_MEAN] = 1.0
    for row in range(used):  # r.m = r.T / weight: T is the sum the mean divides
        row_mean = group.row_mean[row] = block.projections[row] / weight
        square = group.squares[row] - 2.0 * row_mean + mean_square
        group.inverse[row] = 1.0 / math.sqrt(max(square, 1e-30))
    for k in range(start, len(block.to_mean)):
        block.to_mean[k] = block.to_sum[k] / weight


@_inline
def _most_similar(group: Rows, block: Block, rule: Rule, slot: int, used: int) -> int:
    """The row the centroid merges into, or -1."""
    if used == 0:
        return -1
    has_mean = group.state[HAS_MEAN] > 0
    square = float(block.gram[slot, slot])
    shift = 0.0
    if has_mean:
        shift = group.state[MEAN_SQUARE] - block.to_mean[slot]
        square += group.state[MEAN_SQUARE] - 2.0 * block.to_mean[slot]
    best, best_score = 0, -np.inf
    for row in range(used):
        dot = float(block.dots[slot, row])
        if has_mean:
            dot += shift - group.row_mean[row]
        score = dot * group.inverse[row]
        if score > best_score:
            best, best_score = row, score
    similarity = best_score / math.sqrt(max(square, 1e-30))
    if abs(similarity - rule.threshold) < rule.recheck:
        similarity = _exact(group, block, best, slot)
    return best if similarity >= rule.threshold - rule.tolerance else -1


@_inline
def _exact(group: Rows, block: Block, row: int, slot: int) -> float:
    """The similarity of a row and a centroid, in float64 from their components."""
    has_mean = group.state[HAS_MEAN] > 0
    dot = square_row = square_slot = 0.0
    for i in range(group.rows.shape[1]):
        a = float(group.rows[row, i])
        b = float(block.matrix[slot, i])
        if has_mean:
            a -= group.mean[i]
            b -= group.mean[i]
        dot += a * b
        square_row += a * a
        square_slot += b * b
    lengths = math.sqrt(square_row * square_slot)
    return dot / lengths if lengths > 0 else -1.0


@_inline
def _merge(group: Rows, block: Block, rule: Rule, slot: int, row: int) -> None:
    """Make the row (1 - s) row + s x, s the centroid's share of the weight; and its products
    with the centroids to come (1 - s) r.x + s x_k.x."""
    weight = block.weights[slot]
    share = weight / (group.sizes[row] + weight)
    keep = 1.0 - share
    group.sizes[row] += weight
    keep32, share32 = np.float32(keep), np.float32(share)
    for i in range(group.rows.shape[1]):
        group.rows[row, i] = group.rows[row, i] * keep32 + block.matrix[slot, i] * share32
    for k in range(slot + 1, len(block.dots)):
        block.dots[k, row] = keep * block.dots[k, row] + share * block.gram[slot, k]
    if rule.centred:
        block.projections[row] = keep * block.projections[row] + share * block.to_sum[slot]


@_inline
def _create(group: Rows, block: Block, rule: Rule, slot: int, row: int) -> None:
    """A new row: the centroid; its products with the centroids to come are theirs."""
    group.rows[row] = block.matrix[slot]
    group.sizes[row] = block.weights[slot]
    for k in range(slot + 1, len(block.dots)):
        block.dots[k, row] = block.gram[slot, k]
    if rule.centred:
        block.projections[row] = block.to_sum[slot]


@_inline
def _settle(group: Rows, row: int) -> None:
    """A row's |r|^2, r.m and 1/|r-m|, once its centroid changed."""
    has_mean = group.state[HAS_MEAN] > 0
    square = row_mean = 0.0
    for i in range(group.rows.shape[1]):
        value = float(group.rows[row, i])
        square += value * value
        if has_mean:
            row_mean += value * group.mean[i]
    group.squares[row] = square
    if has_mean:
        group.row_mean[row] = row_mean
        square += group.state[MEAN_SQUARE] - 2.0 * row_mean
    group.inverse[row] = 1.0 / math.sqrt(max(square, 1e-30))
