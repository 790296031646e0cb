"""Other ways to find a sub-network (the paper's appendix D), giving masks in the same format as IMP's, so every
downstream step (training, transfer, overlap) takes them unchanged.

- LT-SFT (Ansell et al. 2022): fine-tune densely, then keep the weights that moved most from theta0, the
  global top share by |w - w0|.
- FISH (Sung et al. 2021): importance of a weight = its squared gradient summed over examples, one example at a
  time (the empirical Fisher information's diagonal); keep the global top share.

Both rank with :func:`subnets.masks.magnitude_prune` on the scores (pruning the lowest), so ties are broken as
IMP breaks them and the sparsity is exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from subnets import masks
from subnets.study.names import MASK_METHODS as METHODS

if TYPE_CHECKING:
    import datasets
    import torch

    from subnets.tasks.base import Task
    from subnets.training import TrainingConfig


def keep_top_share(scores: Mapping[str, "torch.Tensor"], sparsity: float) -> masks.Mask:
    """A mask removing the ``round(sparsity * total)`` lowest-scoring entries over all parameters."""
    return masks.magnitude_prune(dict(scores), None, sparsity)


def lt_sft_mask(
    theta0: Mapping[str, "torch.Tensor"], finetuned: Mapping[str, "torch.Tensor"], sparsity: float
) -> masks.Mask:
    """LT-SFT: keep the prunable weights that moved most, |finetuned - theta0|, pruning ``sparsity`` of them."""
    missing = sorted(set(theta0) ^ set(finetuned))
    if missing:
        raise ValueError(f"theta0 and the fine-tuned weights differ in parameter {missing[0]!r}")
    moved = {name: (finetuned[name].detach().float().cpu() - theta0[name].detach().float().cpu()).abs()
             for name in theta0}  # fmt: skip
    return keep_top_share(moved, sparsity)


def fisher_scores(
    model: "torch.nn.Module",
    task: "Task",
    tokenizer,
    dataset: "datasets.Dataset",
    parameter_names: list[str],
    *,
    n_examples: int,
    seed: int,
) -> dict[str, "torch.Tensor"]:
    """FISH: per parameter, the sum over ``n_examples`` examples (the first of ``dataset`` shuffled with ``seed``)
    of the squared gradient of that single example's loss. Dropout is off (eval mode) so that the scores are a
    function of the weights and the examples alone."""
    import torch

    from subnets.training import MODEL_INPUTS

    if n_examples < 1:
        raise ValueError(f"n_examples must be at least 1, not {n_examples}")
    n = min(n_examples, len(dataset))
    examples = dataset.shuffle(seed=seed).select(range(n))
    examples = examples.select_columns([c for c in MODEL_INPUTS if c in examples.column_names])
    collate = task.train_collator(tokenizer)
    named = dict(model.named_parameters())
    unknown = [name for name in parameter_names if name not in named]
    if unknown:
        raise ValueError(f"the model has no parameter {unknown[0]!r}")
    scores = {name: torch.zeros_like(named[name], dtype=torch.float32) for name in parameter_names}
    device = next(model.parameters()).device
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)  # the MLM collator draws its masking from the global RNG
    was_training = model.training
    model.eval()
    try:
        for i in range(n):
            batch = {key: value.to(device) for key, value in collate([examples[i]]).items()}
            model.zero_grad(set_to_none=True)
            model(**batch).loss.backward()
            for name in parameter_names:
                grad = named[name].grad
                if grad is not None:
                    scores[name] += grad.detach().float() ** 2
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
        torch.random.set_rng_state(generator_state)
    return {name: score.cpu() for name, score in scores.items()}


def fish_mask(scores: Mapping[str, "torch.Tensor"], sparsity: float) -> masks.Mask:
    """FISH: keep the weights with the largest summed squared gradients, pruning ``sparsity`` of them."""
    return keep_top_share(scores, sparsity)


def method_mask(
    method: str,
    pretrained: str,
    task: "Task",
    tokenizer,
    data: "datasets.DatasetDict",
    config: "TrainingConfig",
    *,
    language: str,
    sparsity: int,
    fish_examples: int,
    processes: int = 1,
) -> tuple[masks.Mask, masks.Provenance]:
    """The ``method`` mask (lt_sft or fish) of (task, ``language``, ``config.seed``) at ``sparsity`` percent, and
    its provenance. LT-SFT fine-tunes densely with ``config`` (data-parallel in ``processes``); FISH sums the
    squared gradients of ``fish_examples`` training examples at theta0."""
    from subnets.imp import train_subnetwork
    from subnets.theta0 import build_task_model, fingerprint

    theta0 = build_task_model(pretrained, task, seed=config.seed)
    names = list(masks.prunable_parameters(theta0, masks.infer_family(theta0)))
    if method == "lt_sft":
        _, result, _ = train_subnetwork(pretrained, task, tokenizer, data, config, None, progress=False,
                                        processes=processes)  # fmt: skip
        initial = {name: p.detach().clone() for name, p in theta0.named_parameters() if name in names}
        finetuned = {name: result.final_state[name] for name in names}
        mask = lt_sft_mask(initial, finetuned, sparsity / 100)
        details = {"dense_peak_metric": result.peak_metric, "dense_final_metric": result.final_metric}
    elif method == "fish":
        scores = fisher_scores(theta0, task, tokenizer, data["train"], names, n_examples=fish_examples, seed=config.seed)
        mask = fish_mask(scores, sparsity / 100)
        details = {"fish_examples": min(fish_examples, len(data["train"]))}
    else:
        raise ValueError(f"unknown mask method {method!r}; known: {METHODS}")
    provenance = masks.Provenance(method=method, task=task.name, language=language, seed=config.seed,
                                  sparsity_percent=sparsity, theta0_fingerprint=fingerprint(theta0), details=details)  # fmt: skip
    return mask, provenance


def random_subnetwork(pretrained: str, task: "Task", *, seed: int, sparsity: int) -> tuple[masks.Mask, masks.Provenance]:
    """A uniformly random mask over the prunable weights of ``task``'s theta0 at ``sparsity`` percent (seeded), the
    negative control; it belongs to no language."""
    from subnets.theta0 import build_task_model, fingerprint

    model = build_task_model(pretrained, task, seed=seed)
    mask = masks.random_mask(masks.prunable_shapes(model, masks.infer_family(model)), sparsity / 100, seed)
    provenance = masks.Provenance(method="random", task=task.name, language=None, seed=seed,
                                  sparsity_percent=sparsity, theta0_fingerprint=fingerprint(model))  # fmt: skip
    return mask, provenance
