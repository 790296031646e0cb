"""What a mask or a training run cost, counted from theta0: optimizer steps, forward and backward passes, tokens
and estimated FLOPs.

FLOPs follow the usual estimate (Kaplan et al. 2020): a token trained on (a forward and a backward pass) costs
6 x N, a token only forwarded (evaluation, calibration) 2 x N, where N is the number of parameters that act on every
token: every weight of the model but the embedding tables (a lookup), plus the output projection over the vocabulary
when the model has one (tied to the word embeddings in BERT's MLM head). :mod:`subnets.plan` estimates with the same
N before a study runs. Pruned weights are counted as dense: masked training multiplies dense matrices. Tokens are
non-pad input tokens (the length of each example's ``input_ids``: batches are padded dynamically).

A mask's cost is what it took to find it, from theta0: an IMP ticket at 50% carries the cost of every round before
it (its provenance's ``cost_from_theta0`` = its parent's plus the round that pruned it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Iterable, Mapping

COST_FIELDS = ("optimizer_steps", "forward_passes", "backward_passes", "train_tokens", "forward_tokens")


@dataclass(frozen=True)
class Cost:
    """Counts of one piece of work (or a sum of several). ``parameters`` is N (see the module); ``flops`` is kept as
    a sum, so that costs of models of different N still add up."""

    optimizer_steps: int = 0
    forward_passes: int = 0  # batches (or single examples) forwarded, with or without a backward pass
    backward_passes: int = 0
    train_tokens: int = 0  # forwarded and backpropagated: 6 N each
    forward_tokens: int = 0  # forwarded only: 2 N each
    parameters: int = 0
    flops: float = 0.0

    @classmethod
    def of(cls, parameters: int, *, optimizer_steps: int = 0, forward_passes: int = 0, backward_passes: int = 0,
           train_tokens: int = 0, forward_tokens: int = 0) -> "Cost":  # fmt: skip
        """The counts of one run on a model of ``parameters`` (N), with its FLOPs."""
        flops = 6.0 * parameters * train_tokens + 2.0 * parameters * forward_tokens
        return cls(int(optimizer_steps), int(forward_passes), int(backward_passes), int(train_tokens),
                   int(forward_tokens), int(parameters), flops)  # fmt: skip

    def __add__(self, other: "Cost") -> "Cost":
        counts = {name: getattr(self, name) + getattr(other, name) for name in COST_FIELDS}
        return Cost(**counts, parameters=max(self.parameters, other.parameters), flops=self.flops + other.flops)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> "Cost | None":
        if values is None:
            return None
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})


def total(costs: Iterable["Cost | None"]) -> "Cost | None":
    """The sum of ``costs``; None when any is unknown (a mask written before costs were recorded)."""
    result = Cost()
    for cost in costs:
        if cost is None:
            return None
        result = result + cost
    return result


def per_token_parameters(model) -> int:
    """N of a model: its parameters less the embedding tables, plus the output projection if it has one."""
    import torch

    embedding_ids = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    n = sum(p.numel() for p in model.parameters() if id(p) not in embedding_ids)
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if output is not None and id(output.weight) in embedding_ids:
        n += output.weight.numel()
    return int(n)


def example_lengths(dataset) -> list[int]:
    """Non-pad tokens of each example: the length of its ``input_ids`` (examples are stored unpadded)."""
    return [len(ids) for ids in dataset["input_ids"]]
