"""Other ways to find a sub-network than IMP, giving masks in the same format as IMP's, so every downstream step
(training, transfer, overlap) takes them unchanged. Each records what finding it cost (:mod:`subnets.costs`).

- LT-SFT (Ansell et al. 2022): fine-tune densely, then keep the weights that moved most from theta0, the
  global top share by |w - w0|.
- FISH (Sung et al. 2021): importance of a weight = its squared gradient summed over examples, one example at a
  time (the empirical Fisher information's diagonal); keep the global top share.
- one-shot magnitude pruning: IMP's round 0 (the dense run from theta0, same seed and settings) pruned at once to
  the sparsity, from its peak weights (``prune_from``), instead of p% per round.
- early-bird (You et al. 2020): one dense run; every ``interval`` steps the global magnitude mask at the sparsity
  is drawn; the run stops when ``patience`` consecutive draws each differ from the one before in less than
  ``threshold`` of the prunable weights (Hamming distance as a share), and that last draw is the mask.
- Wanda (Sun et al. 2023): no training; score |W_ij| x ||X_j||_2, where ||X_j||_2 is the L2 norm of input feature j of
  that linear layer over every non-pad token of the language's calibration examples at theta0; ranked globally
  as IMP ranks (``groups="global"``) or per output row as Wanda's paper (``groups="row"``).

All rank with :func:`subnets.masks.magnitude_prune` on the scores (pruning the lowest), so ties are broken as IMP
breaks them and the sparsity is exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

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


def hamming_share(a: Mapping[str, "torch.Tensor"], b: Mapping[str, "torch.Tensor"]) -> float:
    """The share of entries on which two masks of the same layout differ."""
    differ = sum(int((a[name] != b[name]).count_nonzero()) for name in a)
    return differ / sum(m.numel() for m in a.values())


class EarlyBird:
    """Early-bird's stopping rule over a sequence of masks drawn during training: :meth:`update` with each new draw
    returns True once ``patience`` consecutive draws have each differed from the one before by less than
    ``threshold`` (a share of the weights). ``distances`` records every distance, ``mask`` the last draw."""

    def __init__(self, threshold: float, patience: int = 1):
        if not 0 < threshold <= 1 or patience < 1:
            raise ValueError(f"early-bird needs 0 < threshold <= 1 and patience >= 1, not {threshold}, {patience}")
        self.threshold, self.patience = threshold, patience
        self.mask: masks.Mask | None = None
        self.distances: list[float] = []
        self.settled = 0

    def update(self, mask: masks.Mask) -> bool:
        if self.mask is not None:
            distance = hamming_share(self.mask, mask)
            self.distances.append(distance)
            self.settled = self.settled + 1 if distance < self.threshold else 0
        self.mask = mask
        return self.settled >= self.patience


def early_bird_stop(sequence, threshold: float, patience: int = 1) -> int | None:
    """The index of the draw at which early-bird stops on ``sequence`` (masks in drawing order), None if never."""
    rule = EarlyBird(threshold, patience)
    for index, mask in enumerate(sequence):
        if rule.update(mask):
            return index
    return None


def wanda_input_norms(model: "torch.nn.Module", task: "Task", tokenizer, dataset: "datasets.Dataset",
                      parameter_names: list[str], *, n_examples: int, seed: int,
                      batch_size: int = 32) -> tuple[dict[str, "torch.Tensor"], int, int]:  # fmt: skip
    """||X_j||_2 of each prunable linear layer's input features over the non-pad tokens of ``n_examples`` examples
    (the first of ``dataset`` shuffled with ``seed``), at the model's weights, dropout off. A layer whose input has
    the batch's (batch, length) shape counts the tokens the attention mask keeps; one of another shape (BERT's
    pooler: one vector per example; a T5 decoder's target positions) counts every row. Returns the norms, the
    number of tokens and of forward passes."""
    import torch

    from subnets.training import MODEL_INPUTS

    n = min(n_examples, len(dataset))
    examples = dataset.shuffle(seed=seed).select(range(n))
    examples = examples.select_columns([c for c in MODEL_INPUTS if c in examples.column_names])
    collate = task.eval_collator(tokenizer)
    modules = {name: module for name, module in model.named_modules() if f"{name}.weight" in parameter_names}
    missing = sorted(set(parameter_names) - {f"{name}.weight" for name in modules})
    if missing:
        raise ValueError(f"wanda scores linear layers' weights; {missing[0]!r} is not one")
    sums = {name: torch.zeros(m.weight.shape[1], dtype=torch.float64) for name, m in modules.items()}
    current: dict[str, "torch.Tensor"] = {}

    def hook(name):
        def record(module, inputs):
            x = inputs[0].detach().float()
            keep = current["attention_mask"]
            if x.ndim == 3 and tuple(x.shape[:2]) == tuple(keep.shape):
                x = x[keep.bool()]
            sums[name] += (x.reshape(-1, x.shape[-1]) ** 2).sum(dim=0).double().cpu()

        return record

    handles = [module.register_forward_pre_hook(hook(name)) for name, module in modules.items()]
    device, was_training, tokens, passes = next(model.parameters()).device, model.training, 0, 0
    model.eval()
    try:
        with torch.no_grad():
            for first in range(0, n, batch_size):
                batch = collate([examples[i] for i in range(first, min(n, first + batch_size))])
                batch = {key: value.to(device) for key, value in batch.items()}
                current["attention_mask"] = batch["attention_mask"]
                tokens += int(batch["attention_mask"].sum())
                task.eval_scores(model, batch)
                passes += 1
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return {f"{name}.weight": total.sqrt().float() for name, total in sums.items()}, tokens, passes


def wanda_mask(weights: Mapping[str, "torch.Tensor"], norms: Mapping[str, "torch.Tensor"], sparsity: float,
               groups: str = "global") -> masks.Mask:  # fmt: skip
    """Keep the largest |W_ij| x ||X_j||_2: over all weights (``global``) or within each output row (``row``: each
    row loses ``round(sparsity * row length)``, ties broken by position as in :func:`masks.magnitude_prune`)."""
    scores = {name: weights[name].detach().float().cpu().abs() * norms[name][None, :] for name in weights}
    if groups == "global":
        return keep_top_share(scores, sparsity)
    if groups != "row":
        raise ValueError(f"wanda groups must be 'global' or 'row', not {groups!r}")
    import torch

    result = {}
    for name, score in scores.items():
        # Ascending and stable: the lowest scores lead, equal ones in positional order (the earliest go first).
        lowest = torch.sort(score, dim=1, stable=True).indices[:, : round(sparsity * score.shape[1])]
        result[name] = torch.ones(score.shape, dtype=torch.bool).scatter_(1, lowest, False)
    return result


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
    options: Mapping[str, Any] | None = None,
    processes: int = 1,
) -> tuple[masks.Mask, masks.Provenance]:
    """The ``method`` mask (:data:`METHODS`) of (task, ``language``, ``config.seed``) at ``sparsity`` percent, and
    its provenance with its cost. ``options`` are the method's settings (:meth:`subnets.study.Study.method_options`):
    fish ``examples``; oneshot ``prune_from``; early_bird ``interval``, ``threshold``, ``patience``; wanda
    ``calibration_examples``, ``batch_size``, ``groups``. LT-SFT and one-shot train data-parallel in ``processes``;
    early-bird trains in one."""
    from subnets.costs import Cost, per_token_parameters
    from subnets.imp import run_imp_round, train_subnetwork
    from subnets.theta0 import build_task_model, fingerprint

    options = dict(options or {})
    theta0 = build_task_model(pretrained, task, seed=config.theta0_seed)
    theta0_fingerprint = fingerprint(theta0)  # now: early-bird trains this very model
    family = masks.infer_family(theta0)
    names = list(masks.prunable_parameters(theta0, family))
    parameters = per_token_parameters(theta0)
    if method == "lt_sft":
        _, result, _ = train_subnetwork(pretrained, task, tokenizer, data, config, None, progress=False,
                                        processes=processes)  # fmt: skip
        initial = {name: p.detach().clone() for name, p in theta0.named_parameters() if name in names}
        finetuned = {name: result.final_state[name] for name in names}
        mask = lt_sft_mask(initial, finetuned, sparsity / 100)
        details = {"dense_peak_metric": result.peak_metric, "dense_final_metric": result.final_metric}
        cost = Cost.from_dict(result.cost)
    elif method == "fish":
        n = min(options["examples"], len(data["train"]))
        scores = fisher_scores(theta0, task, tokenizer, data["train"], names, n_examples=n, seed=config.seed)
        mask = fish_mask(scores, sparsity / 100)
        details = {"fish_examples": n}
        tokens = sum(len(ids) for ids in data["train"].shuffle(seed=config.seed).select(range(n))["input_ids"])
        cost = Cost.of(parameters, forward_passes=n, backward_passes=n, train_tokens=tokens)
    elif method == "oneshot":
        # IMP's round 0 run again (same theta0, seed, data and settings: on CPU bit for bit the same run), pruned
        # at once: its cost is that of the dense run it stands for, counted once.
        prune_from = options.get("prune_from", "best")
        result = run_imp_round(pretrained, task, tokenizer, data, config, None, prune_fraction=sparsity / 100,
                               prune_from=prune_from, progress=False, processes=processes)  # fmt: skip
        mask = result.next_mask
        details = {"dense_peak_metric": result.metrics["peak_metric"], "prune_from": prune_from}
        cost = Cost.from_dict(result.metrics["cost"])
    elif method == "early_bird":
        mask, details, cost = early_bird_mask(pretrained, task, tokenizer, data, config, theta0, names,
                                              sparsity=sparsity, **options)  # fmt: skip
    elif method == "wanda":
        norms, tokens, passes = wanda_input_norms(
            theta0, task, tokenizer, data["train"], names, n_examples=options.get("calibration_examples", 128),
            seed=config.seed, batch_size=options.get("batch_size", 32),
        )  # fmt: skip
        named = dict(theta0.named_parameters())
        groups = options.get("groups", "global")
        mask = wanda_mask({name: named[name] for name in names}, norms, sparsity / 100, groups)
        details = {"calibration_tokens": tokens, "groups": groups}
        cost = Cost.of(parameters, forward_passes=passes, forward_tokens=tokens)
    else:
        raise ValueError(f"unknown mask method {method!r}; known: {METHODS}")
    provenance = masks.Provenance(method=method, task=task.name, language=language, seed=config.seed,
                                  sparsity_percent=sparsity, theta0_fingerprint=theta0_fingerprint, details=details,
                                  cost=cost.to_dict(), cost_from_theta0=cost.to_dict())  # fmt: skip
    return mask, provenance


def early_bird_mask(pretrained, task, tokenizer, data, config, theta0, names, *, sparsity: int, interval: int = 10,
                    threshold: float = 0.1, patience: int = 1):  # fmt: skip
    """Train theta0 densely, drawing the global magnitude mask at ``sparsity`` percent every ``interval`` steps, until
    :class:`EarlyBird` stops the run (else to the end of training); the last draw is the mask."""
    from subnets.costs import Cost
    from subnets.training import MaskedTrainer

    rule, draws = EarlyBird(threshold, patience), []

    def draw(step, model):
        if step % interval:
            return False
        named = dict(model.named_parameters())
        draws.append(step)
        return rule.update(masks.magnitude_prune({name: named[name] for name in names}, None, sparsity / 100))

    trainer = MaskedTrainer(theta0, task, tokenizer, data["train"], data["validation"], config, None,
                            description=f"early-bird {task.name}", progress=False, step_callback=draw)  # fmt: skip
    result = trainer.train()
    settled = rule.settled >= rule.patience
    if not settled or not draws or draws[-1] != result.steps_done:  # never settled: the mask at the last step
        named = {name: result.final_state[name] for name in names}
        rule.mask = masks.magnitude_prune(named, None, sparsity / 100)
    details = {"stopped_at_step": result.steps_done, "settled": settled, "draw_steps": draws,
               "distances": rule.distances, "interval": interval, "threshold": threshold, "patience": patience,
               "peak_metric": result.peak_metric}  # fmt: skip
    return rule.mask, details, Cost.from_dict(result.cost)


def random_subnetwork(
    pretrained: str, task: "Task", *, seed: int, sparsity: int, theta0_seed: int
) -> tuple[masks.Mask, masks.Provenance]:
    """A uniformly random mask over the prunable weights of ``task``'s theta0 at ``sparsity`` percent (drawn with
    ``seed``), the negative control; it belongs to no language. theta0 is the one the run of that seed trains:
    ``theta0_seed`` is its ``TrainingConfig.theta0_seed``."""
    from subnets.theta0 import build_task_model, fingerprint

    model = build_task_model(pretrained, task, seed=theta0_seed)
    mask = masks.random_mask(masks.prunable_shapes(model, masks.infer_family(model)), sparsity / 100, seed)
    free = {"optimizer_steps": 0, "forward_passes": 0, "backward_passes": 0, "train_tokens": 0, "forward_tokens": 0,
            "parameters": 0, "flops": 0.0}  # a draw, not a run: subnets.costs.Cost() as a dict
    provenance = masks.Provenance(method="random", task=task.name, language=None, seed=seed,
                                  sparsity_percent=sparsity, theta0_fingerprint=fingerprint(model), cost=free,
                                  cost_from_theta0=free)  # fmt: skip
    return mask, provenance
