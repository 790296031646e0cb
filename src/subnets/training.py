"""The masked training loop: train theta0 * mask to its peak.

Pruned weights are exactly zero at every forward pass and the optimizer never moves them: after each backward
pass their gradients are zeroed, and after each optimizer step the mask is re-applied. No forward pre-hooks
(torch.nn.utils.prune keeps a second copy of every weight and recomputes weight * mask at every forward).
With zero gradients AdamW's moments at pruned positions stay exactly zero, so nothing leaks back in.

The loop evaluates every ``eval_every`` steps and at the end, keeps the best evaluation (the peak) and a CPU copy
of the weights at that peak, and returns the whole evaluation curve.
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datasets
    import torch

    from subnets.tasks.base import Task

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "labels")


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss; no mask may be derived from such a run."""


@dataclass(frozen=True)
class TrainingConfig:
    """Hyperparameters of one training run (one IMP round or one transfer)."""

    learning_rate: float = 2e-5
    batch_size: int = 32
    eval_batch_size: int = 64
    num_epochs: float = 3.0
    max_steps: int | None = None  # when set, overrides num_epochs
    eval_every: int = 500  # steps between evaluations; the end of training is always evaluated
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    adam_epsilon: float = 1e-8
    seed: int = 0

    def __post_init__(self):
        checks = {
            "learning_rate": self.learning_rate > 0,
            "batch_size": self.batch_size >= 1,
            "eval_batch_size": self.eval_batch_size >= 1,
            "num_epochs": self.num_epochs > 0,
            "max_steps": self.max_steps is None or self.max_steps >= 1,
            "eval_every": self.eval_every >= 1,
            "warmup_steps": self.warmup_steps >= 0,
            "weight_decay": self.weight_decay >= 0,
            "max_grad_norm": self.max_grad_norm > 0,
            "adam_epsilon": self.adam_epsilon > 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid training hyperparameter(s): " + ", ".join(f"{b}={getattr(self, b)!r}" for b in bad))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainingConfig":
        """Build from a config mapping; an unknown key is an error naming the key."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training hyperparameter(s) {unknown}; known: {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    """What a training run leaves: its evaluation curve, its peak, and the weights at the peak (on CPU)."""

    metric_name: str
    higher_is_better: bool
    eval_curve: list[dict[str, float]]  # [{"step": s, "metric": m}, ...] in step order
    peak_metric: float
    peak_step: int
    total_steps: int
    peak_state: dict[str, "torch.Tensor"] = field(repr=False)
    final_state: dict[str, "torch.Tensor"] = field(repr=False)

    @property
    def final_metric(self) -> float:
        return self.eval_curve[-1]["metric"]

    def summary(self) -> dict[str, Any]:
        """The JSON-serialisable part (everything but the weights)."""
        return {
            "metric_name": self.metric_name,
            "higher_is_better": self.higher_is_better,
            "eval_curve": self.eval_curve,
            "peak_metric": self.peak_metric,
            "peak_step": self.peak_step,
            "final_metric": self.final_metric,
            "total_steps": self.total_steps,
        }


def _model_columns(dataset: "datasets.Dataset") -> "datasets.Dataset":
    return dataset.select_columns([c for c in MODEL_INPUTS if c in dataset.column_names])


def _dataloaders(task, tokenizer, train_set, eval_set, config: TrainingConfig):
    import torch
    from torch.utils.data import DataLoader

    generator = torch.Generator().manual_seed(config.seed)
    train_loader = DataLoader(
        _model_columns(train_set),
        batch_size=config.batch_size,
        shuffle=True,
        generator=generator,
        collate_fn=task.train_collator(tokenizer),
    )
    # Evaluation order does not change any metric, so sort by length: batches then pad to little.
    eval_set = _model_columns(eval_set)
    lengths = [len(ids) for ids in eval_set["input_ids"]]
    by_length = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    eval_loader = DataLoader(
        eval_set.select(by_length),
        batch_size=config.eval_batch_size,
        shuffle=False,
        collate_fn=task.eval_collator(tokenizer),
    )
    return train_loader, eval_loader


def _optimizer(model, config: TrainingConfig, fused: bool):
    import torch

    # The usual BERT recipe: no weight decay on biases and LayerNorm weights.
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.learning_rate, eps=config.adam_epsilon, fused=fused or None)


def evaluate(model, eval_loader, task, accelerator) -> float:
    """The task metric of ``model`` on ``eval_loader`` (one pass, no gradients)."""
    import torch

    model.eval()
    metric = task.new_metric()
    with torch.no_grad():
        for batch in eval_loader:
            with accelerator.autocast():
                logits = model(**batch).logits
            metric.add(logits, batch["labels"])
    model.train()
    return float(metric.compute())


class MaskedTrainer:
    """One training run of theta0 * mask: set up in ``__init__``, run with :meth:`train`.

    ``mask`` maps parameter names to bool tensors (True = kept); parameters it does not name are trained
    densely (embeddings, LayerNorm, biases, the task head). ``None`` trains the dense model. The model must
    already be at theta0; pruned entries are zeroed here before the first step.
    """

    def __init__(
        self,
        model,
        task: "Task",
        tokenizer,
        train_set: "datasets.Dataset",
        eval_set: "datasets.Dataset",
        config: TrainingConfig,
        mask: dict[str, "torch.Tensor"] | None = None,
        *,
        description: str = "train",
        progress: bool = True,
    ):
        import torch
        from accelerate import Accelerator
        from accelerate.utils import set_seed
        from transformers import get_linear_schedule_with_warmup

        self.task, self.config, self.description, self.progress = task, config, description, progress
        on_cuda = torch.cuda.is_available()
        self.accelerator = Accelerator(mixed_precision="bf16" if on_cuda else "no", cpu=not on_cuda)
        set_seed(config.seed)

        train_loader, eval_loader = _dataloaders(task, tokenizer, train_set, eval_set, config)
        if len(train_loader) == 0:
            raise ValueError(f"{description}: the training set is empty")
        self.total_steps = config.max_steps or math.ceil(config.num_epochs * len(train_loader))
        optimizer = _optimizer(model, config, fused=on_cuda)
        scheduler = get_linear_schedule_with_warmup(optimizer, config.warmup_steps, self.total_steps)
        self.model, self.optimizer, self.train_loader, self.eval_loader, self.scheduler = self.accelerator.prepare(
            model, optimizer, train_loader, eval_loader, scheduler
        )

        named = dict(self.accelerator.unwrap_model(self.model).named_parameters())
        mask = mask or {}
        unknown = sorted(set(mask) - set(named))
        if unknown:
            raise ValueError(f"{description}: the mask names a parameter the model does not have: {unknown[0]}")
        names = sorted(mask)
        self.masked_params = [named[n] for n in names]
        # Multiplying by a mask of the parameter's dtype is the cheapest in-place zeroing (one fused kernel).
        self.mask_factors = [mask[n].to(device=named[n].device, dtype=named[n].dtype) for n in names]
        self._apply_mask()

    def _apply_mask(self) -> None:
        import torch

        if self.masked_params:
            with torch.no_grad():
                torch._foreach_mul_(self.masked_params, self.mask_factors)

    def _mask_gradients(self) -> None:
        import torch

        if self.masked_params:
            torch._foreach_mul_([p.grad for p in self.masked_params], self.mask_factors)

    def cpu_state(self) -> dict[str, "torch.Tensor"]:
        """A CPU copy of every weight of the model as it is now."""
        state = self.accelerator.unwrap_model(self.model).state_dict()
        return {name: tensor.detach().to("cpu", copy=True) for name, tensor in state.items()}

    def train(self) -> TrainResult:
        """Run every step, evaluating every ``eval_every`` steps and at the end; return the curve and peak."""
        import torch
        from tqdm.auto import tqdm

        task, config, model = self.task, self.config, self.model
        better = (lambda a, b: a > b) if task.higher_is_better else (lambda a, b: a < b)
        curve: list[dict[str, float]] = []
        peak_metric, peak_step, peak_state = None, 0, None

        model.train()
        bar = tqdm(total=self.total_steps, desc=self.description, file=sys.stderr, disable=not self.progress)
        step = 0
        while step < self.total_steps:
            for batch in self.train_loader:
                loss = model(**batch).loss
                if not torch.isfinite(loss.detach()):
                    raise NonFiniteLossError(
                        f"{self.description}: training loss is {loss.item()} at step {step + 1}; "
                        "lower the learning rate or check the data"
                    )
                self.accelerator.backward(loss)
                self._mask_gradients()
                self.accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                self._apply_mask()
                step += 1
                bar.update(1)

                if step % config.eval_every == 0 or step == self.total_steps:
                    value = evaluate(model, self.eval_loader, task, self.accelerator)
                    if not math.isfinite(value):
                        raise NonFiniteLossError(
                            f"{self.description}: evaluation {task.metric_name} is {value} at step {step}"
                        )
                    curve.append({"step": step, "metric": value})
                    if peak_metric is None or better(value, peak_metric):
                        peak_metric, peak_step, peak_state = value, step, self.cpu_state()
                    bar.set_postfix(loss=f"{loss.item():.3f}", **{task.metric_name: f"{value:.3f}"})
                if step == self.total_steps:
                    break
        bar.close()

        return TrainResult(
            metric_name=task.metric_name,
            higher_is_better=task.higher_is_better,
            eval_curve=curve,
            peak_metric=peak_metric,
            peak_step=peak_step,
            total_steps=self.total_steps,
            peak_state=peak_state,
            final_state=peak_state if peak_step == self.total_steps else self.cpu_state(),
        )


def train_masked(model, task, tokenizer, train_set, eval_set, config, mask=None, **kwargs) -> TrainResult:
    """Train ``model`` (at theta0) with ``mask`` applied; see :class:`MaskedTrainer`."""
    return MaskedTrainer(model, task, tokenizer, train_set, eval_set, config, mask, **kwargs).train()
