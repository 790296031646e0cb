"""One round of iterative magnitude pruning (IMP).

Round r trains theta0 * mask_r to its peak; the peak metric is the performance of the sub-network at sparsity
s_r. It then removes ``prune_fraction`` of the ORIGINAL prunable count, ranked globally by |w| among the weights
still kept, from the weights at the peak (or at the end: ``prune_from="last"``), which gives mask_{r+1}.
Every round restarts from theta0 (body and seeded head), so rounds differ only by their masks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from subnets import costs, masks
from subnets.training import MaskedTrainer, TrainingConfig

if TYPE_CHECKING:
    import datasets
    import torch

    from subnets.study.names import Source
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

    model = build_task_model(pretrained, task, seed=config.theta0_seed)
    theta0_fingerprint = fingerprint(model)
    family = masks.infer_family(model)
    prunable = masks.prunable_parameters(model, family)
    provenance = dict(mask_metadata or {})
    if mask is not None and carry_over:
        mask, added_dense = masks.carry_over(mask, {name: p.shape for name, p in prunable.items()})
        provenance = masks.Provenance.from_metadata(provenance, mask_path).derive(
            method="cross_task", ticket_task=provenance["task"], task=task.name, added_dense=tuple(added_dense),
            parent=mask_path,
        ).to_metadata()  # fmt: skip
    elif mask is not None:
        masks.check_mask_fits(
            mask, prunable, path=mask_path, theta0_fingerprint=theta0_fingerprint, metadata=mask_metadata
        )
    options = dict(description=description, progress=progress, state_dir=state_dir, save_every=save_every)
    if processes > 1:
        from subnets.parallel import train_data_parallel

        del model  # each process builds its own theta0
        trainer, result = None, train_data_parallel(
            partial(build_task_model, pretrained, task, seed=config.theta0_seed), task, tokenizer, data["train"],
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
        "mask": {key: provenance.get(key) for key in RUN_PROVENANCE} if mask is not None else None,
    }
    # The run's own cost is in result.summary(); with the cost of finding its mask, what it took from theta0.
    found = costs.total([mask_cost_from_theta0(provenance if mask is not None else None),
                         costs.Cost.from_dict(result.cost)])  # fmt: skip
    info["cost_from_theta0"] = None if found is None else found.to_dict()
    return trainer, result, info


def mask_cost_from_theta0(metadata: dict[str, Any] | None) -> "costs.Cost | None":
    """What finding a mask cost from theta0, from its metadata: zero for no mask (dense) and random masks, None
    when the file does not record it."""
    if metadata is None or metadata.get("method") == "random":
        return costs.Cost()
    return costs.Cost.from_dict(metadata.get("cost_from_theta0"))


# What a trained run records about its mask: its provenance, less what the run records itself or what is long.
RUN_PROVENANCE = tuple(
    f.name for f in dataclasses.fields(masks.Provenance) if f.name not in ("theta0_fingerprint", "parent", "details")
)


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
    provenance = masks.Provenance.from_metadata(metadata, path).derive(
        method="repruned", seed=seed, sparsity_percent=sparsity_percent, parent_sparsity_percent=start_percent,
        parent=None if path is None else str(path),
    )  # fmt: skip
    return mask, {**metadata, **provenance.to_metadata()}


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


def imp_round(
    pretrained: str,
    task: "Task",
    tokenizer,
    data: "datasets.DatasetDict",
    config: TrainingConfig,
    *,
    language: str,
    sparsity: int,
    prune_percent: int,
    prune_from: Literal["best", "last"] = "best",
    ticket_path: str | None = None,
    **train_options: Any,
) -> tuple[dict[str, Any], dict[str, "torch.Tensor"], masks.Provenance]:
    """Round ``sparsity`` (percent) of the chain (task, ``language``, ``config.seed``): the ticket at ``sparsity``
    (read from ``ticket_path``; none at 0) trained to its peak and pruned to the ticket at sparsity + p.

    The ticket file is checked first (this chain's, at this sparsity, found on this theta0). Returns the round's
    metrics (its own sparsity's performance), the next ticket and that ticket's provenance. ``train_options``
    go to :func:`run_imp_round` (state_dir, save_every, processes, progress).
    """
    mask, metadata = None, None
    if ticket_path is not None:
        mask, metadata = masks.load_mask(ticket_path)
        check_chain_mask(mask, metadata, task=task.name, language=language, seed=config.seed,
                         sparsity_percent=sparsity, path=ticket_path)  # fmt: skip
    result = run_imp_round(
        pretrained, task, tokenizer, data, config, mask,
        prune_fraction=round_prune_fraction(mask, prune_percent), prune_from=prune_from,
        mask_metadata=metadata, mask_path=ticket_path, **train_options,
    )  # fmt: skip
    metrics = result.metrics
    next_sparsity = sparsity + prune_percent
    found = costs.total([mask_cost_from_theta0(metadata), costs.Cost.from_dict(metrics["cost"])])
    provenance = masks.Provenance(
        method="imp", task=task.name, language=language, seed=config.seed, sparsity_percent=next_sparsity,
        theta0_fingerprint=metrics["theta0_fingerprint"], parent=ticket_path,
        parent_sparsity_percent=sparsity if mask is not None else None, prune_from=prune_from,
        cost=metrics["cost"], cost_from_theta0=None if found is None else found.to_dict(),
    )  # fmt: skip
    metrics.update(task=task.name, language=language, seed=config.seed, sparsity=sparsity,
                   mask_sparsity=metrics.pop("sparsity"), next_sparsity_percent=next_sparsity,
                   resumed_from_step=result.resumed_from_step)  # fmt: skip
    return metrics, result.next_mask, provenance


def train_source(
    pretrained: str,
    task: "Task",
    tokenizer,
    data: "datasets.DatasetDict",
    config: TrainingConfig,
    *,
    language: str,
    mask_path: str,
    source: "Source",
    sparsity: int,
    **train_options: Any,
) -> dict[str, Any]:
    """Train theta0 * the mask of ``source`` (a parsed source name, :mod:`subnets.study.names`) at ``sparsity``
    (percent) on this task's data: a ticket of another language or a mixture, a random sub-network or another
    method's mask as they are, a language's own ticket pruned on at random (footnote 9), or another task's
    ticket carried over (appendix C). The mask is checked (sparsity; names, shapes, theta0) before training.
    Returns the run's metrics (``resumed_from_step`` among them)."""
    mask, metadata = masks.load_mask(mask_path)
    if source.kind == "repruned":
        mask, metadata = reprune(mask, metadata, start_percent=source.start, sparsity_percent=sparsity,
                                 seed=config.seed, path=mask_path)  # fmt: skip
    masks.check_sparsity(mask, metadata, sparsity, mask_path)
    _, result, info = train_subnetwork(
        pretrained, task, tokenizer, data, config, mask, mask_metadata=metadata, mask_path=mask_path,
        description=f"{task.name} {source}->{language}", carry_over=source.kind == "cross_task", **train_options,
    )  # fmt: skip
    return {**info, **result.summary(), "task": task.name, "language": language, "source": str(source),
            "seed": config.seed,
            "sparsity": sparsity, "mask_sparsity": info["sparsity"], "training": config.to_dict(),
            "resumed_from_step": result.resumed_from_step}  # fmt: skip
