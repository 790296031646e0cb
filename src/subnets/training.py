"""The masked training loop: train theta0 * mask to its peak.

Pruned weights are exactly zero at every forward pass and the optimizer never moves them: after each backward
pass their gradients are zeroed, and after each optimizer step the mask is re-applied. No forward pre-hooks
(torch.nn.utils.prune keeps a second copy of every weight and recomputes weight * mask at every forward).
With zero gradients AdamW's moments at pruned positions stay exactly zero, so nothing leaks back in.

The loop evaluates every ``eval_every`` steps and at the end, keeps the best evaluation (the peak) and a CPU copy
of the weights at that peak, and returns the whole evaluation curve.

With a ``state_dir`` the run survives preemption: every ``save_every`` steps, and at the next step boundary after a
SIGTERM (what SLURM sends before it kills a preempted or timed-out job), it writes a resume state
(:mod:`subnets.resume`); a new run with the same inputs continues from it and ends bit for bit where an
uninterrupted run would have (on CPU). That is why the training batches come from :class:`EpochBatches`, whose
order is a function of (seed, epoch) alone, and why nothing else draws from the global RNGs between steps.

The same trainer runs in each process of a data-parallel run (several GPUs, :mod:`subnets.parallel` starts the
processes): accelerate wraps the model in DDP, every process collates the whole global batch and trains on its
share of the rows (:func:`subnets.sharding.batch_share`), the main process alone evaluates, keeps the peak and
writes the resume state, and a SIGTERM stops every process at the same step.

The trainer's helpers each have one job elsewhere: :mod:`subnets.resume` packs and restores the state,
:mod:`subnets.signals` catches SIGTERM, :mod:`subnets.sharding` cuts a batch into shares. This module imports none
that imports it back (:mod:`subnets.parallel` imports this one, never the reverse).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import struct
import sys
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from subnets import costs, resume, signals
from subnets.sharding import batch_share

if TYPE_CHECKING:
    import datasets
    import torch

    from subnets.tasks.base import Task

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "labels")

# How long a process of a data-parallel run waits in a collective operation before it gives up: the main process
# evaluates, copies the peak and writes resume states alone while the others wait for it.
COLLECTIVE_TIMEOUT = timedelta(hours=2)


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss; no mask may be derived from such a run."""


class Preempted(SystemExit):
    """A stop signal arrived during training; the resume state was written. Exits with 128 + the signal number,
    the shell's convention, so schedulers and Snakemake see a failed job that a rerun continues."""


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
    # theta0's new task head is drawn from ``seed`` (the paper: each seed its own head), or from ``head_seed`` in
    # every run, so that runs of different seeds differ by data order and dropout alone. The toy studies need
    # it: there the random head, not the language, decides most of a ticket (BENCHMARKS.md, "The calibrated
    # phantom").
    head_seed: int | None = None

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
            "head_seed": self.head_seed is None or (isinstance(self.head_seed, int) and self.head_seed >= 0),
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

    @property
    def theta0_seed(self) -> int:
        """The seed theta0's task head is drawn from."""
        return self.seed if self.head_seed is None else self.head_seed


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
    resumed_from_step: int = 0  # 0 for a fresh run; not part of the summary, which must not depend on it
    steps_done: int | None = None  # fewer than total_steps when a step callback stopped the run (early-bird)
    cost: dict[str, Any] | None = None  # subnets.costs.Cost of the run, as a dict (the same resumed or not)

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
            **({} if self.steps_done in (None, self.total_steps) else {"steps_done": self.steps_done}),
            "cost": self.cost,
        }


def _model_columns(dataset: "datasets.Dataset") -> "datasets.Dataset":
    return dataset.select_columns([c for c in MODEL_INPUTS if c in dataset.column_names])


def _derived_seed(*numbers: int) -> int:
    """A 63-bit seed (torch seeds must fit an int64) that is a function of ``numbers`` alone."""
    digest = hashlib.blake2b(struct.pack(f"<{len(numbers)}q", *numbers), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class EpochBatches:
    """Batch sampler: each epoch a permutation drawn from (seed, epoch) alone, cut into batches, started at any
    batch. A resumed run sets the position of the interrupted one and sees exactly the batches it would have seen,
    without replaying (and collating) the ones already consumed.

    In a data-parallel run every process iterates the same global batches; each trains on its share of the
    collated rows (:func:`subnets.sharding.batch_share`). Sharding after collation rather than here keeps the
    collator's random draws (MLM masking) those of one process collating the whole batch.
    """

    def __init__(self, size: int, batch_size: int, seed: int):
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.epoch, self.start = 0, 0

    def __len__(self) -> int:
        return math.ceil(self.size / self.batch_size)

    def set_position(self, epoch: int, start: int) -> None:
        """The next iteration yields epoch ``epoch``'s batches from batch ``start`` on."""
        self.epoch, self.start = epoch, start

    def __iter__(self) -> Iterator[list[int]]:
        import torch

        generator = torch.Generator().manual_seed(_derived_seed(self.seed, self.epoch))
        order = torch.randperm(self.size, generator=generator).tolist()
        for first in range(self.start * self.batch_size, self.size, self.batch_size):
            yield order[first : first + self.batch_size]


def _dataloaders(task, tokenizer, train_set, eval_set, config: TrainingConfig):
    import torch
    from torch.utils.data import DataLoader

    batches = EpochBatches(len(train_set), config.batch_size, config.seed)
    train_loader = DataLoader(
        _model_columns(train_set),
        batch_sampler=batches,
        collate_fn=task.train_collator(tokenizer),
        # A DataLoader draws a seed for its workers at every iteration, from the global RNG unless it has its own
        # generator: that draw would differ between a resumed run and an uninterrupted one.
        generator=torch.Generator(),
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
        # Its own generator too: an evaluation then draws nothing from the global RNG, which stays the training
        # collator's (and dropout's), the same in every process of a data-parallel run, where one evaluates.
        generator=torch.Generator(),
    )
    return batches, train_loader, eval_loader


class _OnDevice:
    """A data loader whose batches are moved to ``device``. The evaluation loader is not given to
    ``accelerator.prepare``, which would shard it across the processes of a data-parallel run."""

    def __init__(self, loader, device):
        self.loader, self.device = loader, device

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        from accelerate.utils import send_to_device

        for batch in self.loader:
            yield send_to_device(batch, self.device)


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
                scores = task.eval_scores(model, batch)
            metric.add(scores, batch["labels"])
    model.train()
    return float(metric.compute())


def _mask_factors(model, mask: dict[str, "torch.Tensor"] | None, description: str) -> tuple[list, list]:
    """The parameters of ``model`` that ``mask`` names, in name order, and their masks as factors of their dtype
    and device: multiplying by one is the cheapest in-place zeroing (one fused kernel for all)."""
    named = dict(model.named_parameters())
    mask = mask or {}
    unknown = sorted(set(mask) - set(named))
    if unknown:
        raise ValueError(f"{description}: the mask names a parameter the model does not have: {unknown[0]}")
    names = sorted(mask)
    return [named[n] for n in names], [mask[n].to(device=named[n].device, dtype=named[n].dtype) for n in names]


class MaskedTrainer:
    """One training run of theta0 * mask: set up in ``__init__``, run with :meth:`train`.

    ``mask`` maps parameter names to bool tensors (True = kept); parameters it does not name are trained
    densely (embeddings, LayerNorm, biases, the task head). ``None`` trains the dense model. The model must
    already be at theta0; pruned entries are zeroed here before the first step.

    ``state_dir`` (owned by the trainer, deleted when the run finishes) keeps a resume state, written every
    ``save_every`` steps and on SIGTERM; a state found there at the start is continued from when it belongs to
    the same run (same hyperparameters, starting weights and data), discarded when it belongs to another, and set
    aside with a warning when it cannot be read (:func:`subnets.resume.restore`).

    In a process of a data-parallel run (``RANK``/``WORLD_SIZE`` set, see :mod:`subnets.parallel`) the trainer
    trains its share of each batch under DDP; only the main process evaluates and writes, and :meth:`train`
    returns None in the others.
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
        state_dir: str | Path | None = None,
        save_every: int = 500,
        step_callback: Callable[[int, Any], bool] | None = None,
    ):
        import torch
        from accelerate import Accelerator
        from accelerate.utils import InitProcessGroupKwargs, set_seed
        from transformers import get_linear_schedule_with_warmup

        if save_every < 1:
            raise ValueError(f"{description}: save_every must be at least 1, not {save_every!r}")
        self.task, self.config, self.description, self.progress = task, config, description, progress
        self.state_dir, self.save_every = (Path(state_dir) if state_dir is not None else None), save_every
        on_cuda = torch.cuda.is_available()
        self.accelerator = Accelerator(
            mixed_precision="bf16" if on_cuda else "no",
            cpu=not on_cuda,
            kwargs_handlers=[InitProcessGroupKwargs(timeout=COLLECTIVE_TIMEOUT)],  # data-parallel runs only
        )
        self.rank, self.world_size = self.accelerator.process_index, self.accelerator.num_processes
        self.is_main = self.accelerator.is_main_process
        set_seed(config.seed)  # the same seed in every process: their collators draw the same masks

        self.batches, train_loader, eval_loader = _dataloaders(task, tokenizer, train_set, eval_set, config)
        if len(self.batches) == 0:
            raise ValueError(f"{description}: the training set is empty")
        self.total_steps = config.max_steps or math.ceil(config.num_epochs * len(self.batches))
        optimizer = _optimizer(model, config, fused=on_cuda)
        scheduler = get_linear_schedule_with_warmup(optimizer, config.warmup_steps, self.total_steps)
        # The training loader stays outside accelerate: its wrapper collates one batch ahead, which would move
        # the collator's RNG draws (MLM masking) across the step boundary where a resume state is taken, and in
        # several processes it would shard the data by itself. So does the scheduler: accelerate's wrapper steps
        # it once per process at each step (it assumes the global batch grows with the processes; ours does not).
        self.train_loader, self.scheduler = train_loader, scheduler
        self.eval_loader = _OnDevice(eval_loader, self.accelerator.device)
        self.model, self.optimizer = self.accelerator.prepare(model, optimizer)

        if step_callback is not None and self.world_size > 1:
            raise ValueError(f"{description}: a step callback (early stopping) needs a single process")
        self.step_callback = step_callback
        # Cost accounting (subnets.costs) from the examples' lengths and the batch order, a function of (seed,
        # epoch): nothing is drawn or collated for it, so results are unchanged and a resumed run counts the same.
        self.train_lengths = costs.example_lengths(train_set)
        self.eval_tokens, self.eval_batches = sum(costs.example_lengths(eval_set)), len(eval_loader)
        self.parameters = costs.per_token_parameters(model)
        self.masked_params, self.mask_factors = _mask_factors(self.accelerator.unwrap_model(self.model), mask,
                                                              description)  # fmt: skip
        self._apply_mask()
        self.run_key = None
        if self.state_dir is not None:
            self.run_key = resume.run_key(config.to_dict(), self.cpu_state(), (train_set, eval_set))

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

    def _restore(self) -> resume.Progress:
        """The progress of the saved run, with model, optimizer, scheduler and RNGs put back; a fresh start when
        there is no state dir, no state, one of another run or one that cannot be read."""
        if self.state_dir is None:
            return resume.Progress()
        return resume.restore(
            self.state_dir, self.run_key, self.accelerator.unwrap_model(self.model), self.optimizer, self.scheduler,
            description=self.description, is_main=self.is_main, barrier=self.accelerator.wait_for_everyone,
        )  # fmt: skip

    def _save(self, progress: resume.Progress) -> None:
        resume.save(self.state_dir, self.run_key, progress, self.cpu_state(), self.optimizer, self.scheduler)

    def _train_step(self, batch, step: int) -> "torch.Tensor":
        import torch
        from accelerate.utils import send_to_device

        weight = 1.0
        if self.world_size > 1:
            batch, weight = batch_share(batch, self.rank, self.world_size)
        with self._dropout_stream(step):
            outputs = self.model(**send_to_device(batch, self.accelerator.device))
            if weight == 0:  # nothing to score in this share: zero gradients, but DDP needs every process
                loss = objective = outputs.logits.float().sum() * 0.0
            else:
                loss = outputs.loss
                if not torch.isfinite(loss.detach()):
                    raise NonFiniteLossError(
                        f"{self.description}: training loss is {loss.item()} at step {step + 1}; "
                        "lower the learning rate or check the data"
                    )
                objective = loss if self.world_size == 1 else loss * weight
            self.accelerator.backward(objective)  # in several processes: DDP averages the gradients here
        self._mask_gradients()
        self.accelerator.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self._apply_mask()
        return loss

    @contextlib.contextmanager
    def _dropout_stream(self, step: int) -> Iterator[None]:
        """In a data-parallel run, dropout draws from a stream of its own, seeded from (seed, step, rank): the
        global CPU stream stays the collator's, the same in every process, and the processes' dropout differ.
        One process draws from the global streams, as it always has."""
        import torch

        if self.world_size == 1:
            yield
            return
        device = self.accelerator.device
        seed = _derived_seed(self.config.seed, step, self.rank)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.random.default_generator.manual_seed(seed)
            if device.type == "cuda":
                torch.cuda.manual_seed(seed)
            yield

    def _evaluate(self, progress: resume.Progress) -> float:
        """Evaluate now, append to the curve and keep the weights when this is the best evaluation so far."""
        task = self.task
        # Unwrapped: DDP's forward would wait for the other processes, which do not evaluate.
        value = evaluate(self.accelerator.unwrap_model(self.model), self.eval_loader, task, self.accelerator)
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"{self.description}: evaluation {task.metric_name} is {value} at step {progress.step}"
            )
        progress.curve.append({"step": progress.step, "metric": value})
        improved = progress.peak_metric is None or (
            value > progress.peak_metric if task.higher_is_better else value < progress.peak_metric
        )
        if improved:
            progress.peak_metric, progress.peak_step, progress.peak_state = value, progress.step, self.cpu_state()
        return value

    def _stop(self, progress: resume.Progress, signum: int) -> None:
        """Save the state (the main process), wait until every process is here, and exit with 128 + signum."""
        if self.is_main:
            self._save(progress)
            where = resume.state_path(self.state_dir)
            print(f"{self.description}: signal {signum} at step {progress.step}; state saved to {where}",
                  file=sys.stderr)  # fmt: skip
        self.accelerator.wait_for_everyone()
        raise Preempted(128 + signum)

    def _batches_from(self, step: int) -> Iterator[dict[str, "torch.Tensor"]]:
        """The training batches from optimizer step ``step`` on, across epoch boundaries, without end: the rest
        of that step's epoch, then whole epochs. Each batch is collated only when it is asked for, so the
        collator's RNG draws stay inside the step that trains on it."""
        epoch, first = divmod(step, len(self.batches))
        while True:
            self.batches.set_position(epoch, first)
            yield from self.train_loader
            epoch, first = epoch + 1, 0

    def train(self) -> TrainResult | None:
        """Run every step, evaluating every ``eval_every`` steps and at the end; return the curve and peak (None
        in a data-parallel process other than the main one)."""
        from tqdm.auto import tqdm

        config, total, main = self.config, self.total_steps, self.is_main
        saving = self.state_dir is not None
        # A resumed run starts where the saved one stopped: same weights, optimizer, scheduler, RNGs and curve.
        progress = self._restore()
        resumed_from = progress.step
        self.model.train()
        bar = tqdm(total=total, initial=progress.step, desc=self.description, file=sys.stderr,
                   disable=not (self.progress and main))  # fmt: skip
        # SIGTERMs are only caught when there is a state to save; with one, the run stops at a step boundary.
        device = self.accelerator.device
        with signals.stop_requests(saving, self.world_size, device) as pending_stop, bar:
            # zip stops at the last step before asking for another batch: no collation after it.
            for step, batch in zip(range(progress.step, total), self._batches_from(progress.step)):
                loss = self._train_step(batch, step)
                progress.step = step + 1
                bar.update(1)
                # The main process alone evaluates (on the whole evaluation set) and keeps the peak.
                stop = self.step_callback is not None and self.step_callback(
                    progress.step, self.accelerator.unwrap_model(self.model))
                if main and (progress.step % config.eval_every == 0 or progress.step == total or stop):
                    value = self._evaluate(progress)
                    bar.set_postfix(loss=f"{loss.item():.3f}", **{self.task.metric_name: f"{value:.3f}"})
                # After the last step there is nothing to save: the state is removed below.
                if progress.step == total or stop:
                    break
                # Every process asks at every boundary (a collective in a data-parallel run): all stop together.
                if signum := pending_stop():
                    self._stop(progress, signum)
                if main and saving and progress.step % self.save_every == 0:
                    self._save(progress)
        if not main:
            return None
        if saving:
            resume.remove_state(self.state_dir)
        return self._result(progress, resumed_from)

    def _result(self, progress: resume.Progress, resumed_from: int) -> TrainResult:
        total = self.total_steps
        return TrainResult(
            metric_name=self.task.metric_name,
            higher_is_better=self.task.higher_is_better,
            eval_curve=progress.curve,
            peak_metric=progress.peak_metric,
            peak_step=progress.peak_step,
            total_steps=total,
            peak_state=progress.peak_state,
            final_state=progress.peak_state if progress.peak_step == progress.step else self.cpu_state(),
            resumed_from_step=resumed_from,
            steps_done=progress.step,
            cost=self.cost(progress).to_dict(),
        )

    def cost(self, progress: resume.Progress) -> costs.Cost:
        """What the run has cost after ``progress.step`` steps and ``len(progress.curve)`` evaluations: the whole
        global batch of every step (all processes together), each evaluation over the whole evaluation set."""
        batches = EpochBatches(len(self.train_lengths), self.config.batch_size, self.config.seed)
        train_tokens, step, epoch = 0, 0, 0
        while step < progress.step:
            batches.set_position(epoch, 0)
            for batch in batches:
                if step == progress.step:
                    break
                train_tokens += sum(self.train_lengths[i] for i in batch)
                step += 1
            epoch += 1
        evaluations = len(progress.curve)
        return costs.Cost.of(
            self.parameters, optimizer_steps=progress.step, forward_passes=progress.step + evaluations * self.eval_batches,
            backward_passes=progress.step, train_tokens=train_tokens, forward_tokens=evaluations * self.eval_tokens,
        )  # fmt: skip


def train_masked(model, task, tokenizer, train_set, eval_set, config, mask=None, **kwargs) -> TrainResult:
    """Train ``model`` (at theta0) with ``mask`` applied; see :class:`MaskedTrainer`."""
    return MaskedTrainer(model, task, tokenizer, train_set, eval_set, config, mask, **kwargs).train()
