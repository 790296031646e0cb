"""One round of iterative magnitude pruning (IMP).

Round r trains theta0 * mask_r to its peak; the peak metric is the performance of the sub-network at sparsity
s_r. It then removes ``prune_fraction`` of the ORIGINAL prunable count, ranked globally by |w| among the weights
still kept, from the weights at the peak (or at the end: ``prune_from="last"``), which gives mask_{r+1}.
Every round restarts from theta0 (body and seeded head), so rounds differ only by their masks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from subnets import masks
from subnets.training import MaskedTrainer, TrainingConfig

if TYPE_CHECKING:
    import datasets
    import torch

    from subnets.tasks.base import Task


@dataclass
class RoundResult:
    metrics: dict[str, Any]  # JSON-serialisable: sparsity, curve, peak, fingerprint, counts
    next_mask: dict[str, "torch.Tensor"]  # bool, True = kept, at sparsity + prune_fraction
    resumed_from_step: int = 0  # where training continued from a resume state (0: a fresh run)


def train_subnetwork(
    pretrained: str,
    task: "Task",
    tokenizer,
    data: "datasets.DatasetDict",
    config: TrainingConfig,
    mask: dict[str, "torch.Tensor"] | None = None,
    *,
    mask_metadata: dict[str, Any] | None = None,
    mask_path: str | None = None,
    description: str = "train",
    progress: bool = True,
    state_dir: str | None = None,
    save_every: int = 500,
    carry_over: bool = False,
    processes: int = 1,
):
    """Build theta0 for ``task`` with ``config.seed``, check ``mask`` fits it, and train theta0 * mask.

    With ``carry_over`` the mask is another task's ticket (appendix C): it is carried over to this task's
    model (:func:`subnets.masks.carry_over`) instead of being required to fit it, and its theta0 (another
    task's head) is not compared. ``state_dir`` keeps a resume state every ``save_every`` steps (see
    :class:`MaskedTrainer`). ``processes`` > 1 trains data-parallel in that many processes, one per GPU
    (:mod:`subnets.parallel`). Returns ``(trainer, result, info)`` where ``info`` describes the run
    (fingerprint, sparsity, counts, and the mask's provenance under ``"mask"``); ``trainer`` is None when the
    training ran in other processes.
    """
    from functools import partial

    from subnets.theta0 import build_task_model, fingerprint

    model = build_task_model(pretrained, task, seed=config.seed)
    theta0_fingerprint = fingerprint(model)
    family = masks.infer_family(model)
    prunable = masks.prunable_parameters(model, family)
    provenance = dict(mask_metadata or {})
    if mask is not None and carry_over:
        mask, added_dense = masks.carry_over(mask, {name: p.shape for name, p in prunable.items()})
        provenance.update(method="cross_task", ticket_task=provenance.get("task"), task=task.name,
                          added_dense=added_dense)  # fmt: skip
    elif mask is not None:
        masks.check_mask_fits(
            mask, prunable, path=mask_path, theta0_fingerprint=theta0_fingerprint, metadata=mask_metadata
        )
    options = dict(description=description, progress=progress, state_dir=state_dir, save_every=save_every)
    if processes > 1:
        from subnets.parallel import train_data_parallel

        del model  # each process builds its own theta0
        trainer, result = None, train_data_parallel(
            partial(build_task_model, pretrained, task, seed=config.seed), task, tokenizer, data["train"],
            data["validation"], config, mask, processes=processes, **options,
        )  # fmt: skip
    else:
        trainer = MaskedTrainer(model, task, tokenizer, data["train"], data["validation"], config, mask, **options)
        result = trainer.train()
    prunable_count = sum(p.numel() for p in prunable.values())
    info = {
        "theta0_fingerprint": theta0_fingerprint,
        "family": family,
        "prunable_count": prunable_count,
        "kept_count": masks.kept_count(mask) if mask is not None else prunable_count,
        "sparsity": masks.sparsity(mask) if mask is not None else 0.0,
        "mask": {key: provenance.get(key) for key in PROVENANCE_KEYS} if mask is not None else None,
    }
    return trainer, result, info


# What a trained run records about its mask.
PROVENANCE_KEYS = ("method", "task", "language", "seed", "sparsity_percent", "parent_sparsity_percent",
                   "ticket_task", "added_dense")  # fmt: skip


def reprune(
    ticket: dict[str, "torch.Tensor"],
    metadata: dict[str, Any],
    *,
    start_percent: int,
    sparsity_percent: int,
    seed: int,
    path: str | None = None,
) -> tuple[dict[str, "torch.Tensor"], dict[str, Any]]:
    """Footnote 9's baseline: ``ticket`` (at ``start_percent``) pruned on at random to ``sparsity_percent``."""
    masks.check_sparsity(ticket, metadata, start_percent, path)
    mask = masks.random_prune(ticket, sparsity_percent / 100, seed)
    provenance = {**metadata, "method": "repruned", "seed": seed, "sparsity_percent": sparsity_percent,
                  "parent_sparsity_percent": start_percent}  # fmt: skip
    return mask, provenance


def check_chain_mask(
    mask: dict[str, "torch.Tensor"],
    metadata: dict[str, Any],
    *,
    task: str,
    language: str,
    seed: int,
    sparsity_percent: int,
    path: str | None = None,
) -> None:
    """Refuse a mask that is not the previous round's of this chain (task, language, seed) at this sparsity."""
    masks.check_sparsity(mask, metadata, sparsity_percent, path)
    for key, expected in (("task", task), ("language", language), ("seed", seed)):
        if metadata.get(key) != expected:
            raise ValueError(f"{path or 'the mask'}: metadata {key}={metadata.get(key)!r}, expected {expected!r}")


def round_prune_fraction(mask: dict[str, "torch.Tensor"] | None, prune_percent: int) -> float:
    """p% of the ORIGINAL count, or what is left when rounding has already taken more (late rounds)."""
    fraction = prune_percent / 100
    if mask is None:
        return fraction
    return min(fraction, masks.kept_count(mask) / sum(m.numel() for m in mask.values()))


def run_imp_round(
    pretrained: str,
    task: "Task",
    tokenizer,
    data: "datasets.DatasetDict",
    config: TrainingConfig,
    mask: dict[str, "torch.Tensor"] | None = None,
    *,
    prune_fraction: float = 0.1,
    prune_from: Literal["best", "last"] = "best",
    mask_metadata: dict[str, Any] | None = None,
    mask_path: str | None = None,
    progress: bool = True,
    state_dir: str | None = None,
    save_every: int = 500,
    processes: int = 1,
) -> RoundResult:
    """Train theta0 * ``mask`` (dense when ``None``) to its peak and prune the next ``prune_fraction``.

    ``mask_metadata`` (from ``load_mask``) lets the mask's recorded theta0 fingerprint be checked against
    this round's theta0 before any training; ``mask_path`` names the file in errors. ``state_dir`` keeps a
    resume state every ``save_every`` steps, so that a killed round continues where it stopped. ``processes``
    > 1 trains data-parallel (see :func:`train_subnetwork`).
    """
    if prune_from not in ("best", "last"):
        raise ValueError(f"prune_from must be 'best' or 'last', not {prune_from!r}")
    _, result, info = train_subnetwork(
        pretrained, task, tokenizer, data, config, mask,
        mask_metadata=mask_metadata, mask_path=mask_path,
        description=f"IMP round {task.name}", progress=progress, state_dir=state_dir, save_every=save_every,
        processes=processes,
    )  # fmt: skip
    weights_to_rank = result.peak_state if prune_from == "best" else result.final_state
    prunable_weights = masks.prunable_parameters(weights_to_rank, info["family"])
    next_mask = masks.magnitude_prune(prunable_weights, mask, prune_fraction)
    metrics = {
        **info,
        **result.summary(),
        "prune_fraction": prune_fraction,
        "prune_from": prune_from,
        "next_sparsity": masks.sparsity(next_mask),
        "training": config.to_dict(),
    }
    return RoundResult(metrics=metrics, next_mask=next_mask, resumed_from_step=result.resumed_from_step)
