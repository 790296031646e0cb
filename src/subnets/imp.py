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
):
    """Build theta0 for ``task`` with ``config.seed``, check ``mask`` fits it, and train theta0 * mask.

    ``state_dir`` keeps a resume state every ``save_every`` steps (see :class:`MaskedTrainer`).
    Returns ``(trainer, result, info)`` where ``info`` describes the run (fingerprint, sparsity, counts).
    """
    from subnets.theta0 import build_task_model, fingerprint

    model = build_task_model(pretrained, task, seed=config.seed)
    theta0_fingerprint = fingerprint(model)
    family = masks.infer_family(model)
    prunable = masks.prunable_parameters(model, family)
    if mask is not None:
        masks.check_mask_fits(
            mask, prunable, path=mask_path, theta0_fingerprint=theta0_fingerprint, metadata=mask_metadata
        )
    trainer = MaskedTrainer(
        model, task, tokenizer, data["train"], data["validation"], config, mask,
        description=description, progress=progress, state_dir=state_dir, save_every=save_every,
    )  # fmt: skip
    result = trainer.train()
    prunable_count = sum(p.numel() for p in prunable.values())
    info = {
        "theta0_fingerprint": theta0_fingerprint,
        "family": family,
        "prunable_count": prunable_count,
        "kept_count": masks.kept_count(mask) if mask is not None else prunable_count,
        "sparsity": masks.sparsity(mask) if mask is not None else 0.0,
    }
    return trainer, result, info


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
) -> RoundResult:
    """Train theta0 * ``mask`` (dense when ``None``) to its peak and prune the next ``prune_fraction``.

    ``mask_metadata`` (from ``load_mask``) lets the mask's recorded theta0 fingerprint be checked against
    this round's theta0 before any training; ``mask_path`` names the file in errors. ``state_dir`` keeps a
    resume state every ``save_every`` steps, so that a killed round continues where it stopped.
    """
    if prune_from not in ("best", "last"):
        raise ValueError(f"prune_from must be 'best' or 'last', not {prune_from!r}")
    _, result, info = train_subnetwork(
        pretrained, task, tokenizer, data, config, mask,
        mask_metadata=mask_metadata, mask_path=mask_path,
        description=f"IMP round {task.name}", progress=progress, state_dir=state_dir, save_every=save_every,
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
