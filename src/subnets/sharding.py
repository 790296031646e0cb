"""Batch shares of a data-parallel run: which rows of a collated global batch each process trains on, and how
much its loss weighs.

Both the trainer (:mod:`subnets.training`, in each process) and the launcher (:mod:`subnets.parallel`) depend on
this module; it depends on neither, so the two never import each other in a circle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def share_bounds(rows: int, rank: int, world_size: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of a batch of ``rows`` that process ``rank`` of ``world_size`` trains on: contiguous
    shares in rank order, the first ``rows % world_size`` one row longer. Empty when ``rows < world_size``."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not one of {world_size} processes")
    base, extra = divmod(rows, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


def batch_share(
    batch: dict[str, "torch.Tensor"], rank: int, world_size: int
) -> tuple[dict[str, "torch.Tensor"], float]:
    """This rank's rows of a collated global ``batch``, and the weight of its loss.

    A model's loss is the mean over the label entries that are not -100 (tokens, or rows for a sequence
    label). With ``n`` of them in the share and ``total`` in the batch, ``weight = n * world_size / total``:
    DDP averages the gradients of ``weight * loss`` over the ranks, which gives the gradient of the global
    batch's mean loss. A share with nothing to score while the batch has something (fewer rows than processes,
    or no label entry in its rows) gets weight 0; it is then one row of the batch, still run forward and
    backward so that every rank takes part in DDP's all-reduce. A batch with nothing to score at all keeps
    weight 1, and its loss is NaN in every process, as it is in one.
    """
    labels = batch["labels"]
    start, stop = share_bounds(len(labels), rank, world_size)
    total = int((labels != -100).sum())
    scored = int((labels[start:stop] != -100).sum())
    if stop == start or (total and not scored):
        start, stop = 0, 1
    share = {key: value[start:stop] for key, value in batch.items()}
    if not total:
        return share, 1.0
    return share, scored * world_size / total
