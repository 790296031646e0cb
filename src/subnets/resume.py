"""The resume state of a training run: one safetensors file that a killed or requeued job continues from.

Tensors (weights, peak weights, optimizer moments, torch's RNG states) are stored as safetensors; everything
else (step, evaluation curve, peak, scheduler, optimizer hyperparameters, Python and NumPy RNG states) as JSON
in the same file's metadata. One file replaced atomically means a kill at any moment leaves either the previous
state or the new one, never a mix of two steps. No pickle is ever loaded.

:func:`save` and :func:`restore` are what the trainer (:mod:`subnets.training`) calls: they pack and unpack the
model, optimizer, scheduler, RNGs and :class:`Progress`. A state is continued only by a run with the same
:func:`run_key`. A state that cannot be read (garbage left by a crash, say) is set aside, not deleted, with a
warning, and the run starts afresh: a rerun must never fail on it forever. Restored weights come back in the
model's order (a safetensors file keeps its tensors sorted by name), so what is derived from them, a mask file
say, is the same bytes as after an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from subnets.io import atomic_path

if TYPE_CHECKING:
    import torch

STATE_FILE = "state.safetensors"
FORMAT = 1
_INFO_KEY = "resume_state"


@dataclass
class Progress:
    """Where a run stands after ``step`` optimizer steps: what a resume state holds besides the model."""

    step: int = 0
    curve: list[dict[str, float]] = field(default_factory=list)
    peak_metric: float | None = None
    peak_step: int = 0
    peak_state: dict[str, "torch.Tensor"] | None = None


def state_path(state_dir: str | Path) -> Path:
    return Path(state_dir) / STATE_FILE


def save_state(state_dir: str | Path, tensors: dict[str, dict[str, "torch.Tensor"]], info: dict[str, Any]) -> None:
    """Write ``tensors`` (group -> name -> tensor) and the JSON-serialisable ``info`` atomically."""
    from safetensors.torch import save_file

    flat = {
        f"{group}/{name}": tensor.contiguous() for group, named in tensors.items() for name, tensor in named.items()
    }
    metadata = {_INFO_KEY: json.dumps({"format": FORMAT, **info})}
    with atomic_path(state_path(state_dir)) as tmp:
        save_file(flat, str(tmp), metadata=metadata)


def load_state(state_dir: str | Path) -> tuple[dict[str, dict[str, "torch.Tensor"]], dict[str, Any]] | None:
    """The state saved in ``state_dir`` as ``(tensors by group, info)``, or None when there is none."""
    from safetensors import safe_open

    path = state_path(state_dir)
    if not path.exists():
        return None
    tensors: dict[str, dict[str, torch.Tensor]] = {}
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
        if _INFO_KEY not in metadata:
            raise ValueError(f"{path}: not a resume state (no {_INFO_KEY!r} metadata); delete it to start afresh")
        info = json.loads(metadata[_INFO_KEY])
        if info.get("format") != FORMAT:
            raise ValueError(f"{path}: resume state format {info.get('format')!r}, expected {FORMAT}")
        for key in handle.keys():
            group, name = key.split("/", 1)
            tensors.setdefault(group, {})[name] = handle.get_tensor(key)
    return tensors, info


def remove_state(state_dir: str | Path) -> None:
    """Delete ``state_dir`` and everything in it (temporary files of an interrupted write included)."""
    shutil.rmtree(state_dir, ignore_errors=True)


def optimizer_parts(state_dict: dict[str, Any]) -> tuple[dict[str, "torch.Tensor"], dict[str, Any]]:
    """Split an optimizer state dict into tensors ("<param index>/<key>") and a JSON-serialisable rest."""
    import torch

    tensors, scalars = {}, {}
    for index, entries in state_dict["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}/{key}"] = value.detach().to("cpu")
            else:
                scalars[f"{index}/{key}"] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def optimizer_state_dict(tensors: dict[str, "torch.Tensor"], rest: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`optimizer_parts`."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in [*tensors.items(), *rest["scalars"].items()]:
        index, name = key.split("/", 1)
        state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": rest["param_groups"]}


def rng_parts() -> tuple[dict[str, "torch.Tensor"], dict[str, Any]]:
    """Every RNG a training step may draw from: torch (CPU and each CUDA device), Python and NumPy."""
    import numpy as np
    import torch

    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors.update({f"cuda{i}": state for i, state in enumerate(torch.cuda.get_rng_state_all())})
    version, internal, gauss = random.getstate()
    kind, keys, position, has_gauss, cached = np.random.get_state()
    rest = {
        "python": [version, list(internal), gauss],
        "numpy": [kind, keys.tolist(), position, has_gauss, cached],
    }
    return tensors, rest


def restore_rng(tensors: dict[str, "torch.Tensor"], rest: dict[str, Any]) -> None:
    """The inverse of :func:`rng_parts`."""
    import numpy as np
    import torch

    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[f"cuda{i}"] for i in range(len(tensors) - 1)]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    version, internal, gauss = rest["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, cached = rest["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached))


# ------------------------------------------------------------------------------------------ the trainer's side


def run_key(config: dict[str, Any], weights: dict[str, "torch.Tensor"], data: Iterable[Any]) -> str:
    """What a resume state must match to be continued: hyperparameters, starting weights (theta0 * mask) and
    data (datasets' fingerprints and sizes). A stale state left by a run with other inputs is then never
    continued by mistake."""
    from subnets.theta0 import fingerprint

    parts = {
        "config": config,
        "theta0_times_mask": fingerprint(weights),
        "data": [[getattr(d, "_fingerprint", None), len(d)] for d in data],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def save(state_dir: str | Path, key: str, progress: Progress, model_state: dict[str, "torch.Tensor"],
         optimizer, scheduler) -> None:  # fmt: skip
    """Write the resume state of a run at ``progress``: ``model_state`` (CPU weights), the optimizer's and the
    scheduler's state, every RNG, and the run's ``key`` (:func:`run_key`)."""
    optimizer_tensors, optimizer_rest = optimizer_parts(optimizer.state_dict())
    rng_tensors, rng_rest = rng_parts()
    tensors = {"model": model_state, "optimizer": optimizer_tensors, "rng": rng_tensors}
    if progress.peak_state is not None:
        tensors["peak"] = progress.peak_state
    info = {
        "run_key": key,
        "step": progress.step,
        "eval_curve": progress.curve,
        "peak_metric": progress.peak_metric,
        "peak_step": progress.peak_step,
        "optimizer": optimizer_rest,
        "scheduler": scheduler.state_dict(),
        "rng": rng_rest,
    }
    save_state(state_dir, tensors, info)


def restore(
    state_dir: str | Path,
    key: str,
    model,
    optimizer,
    scheduler,
    *,
    description: str = "train",
    is_main: bool = True,
    barrier: Callable[[], None] | None = None,
) -> Progress:
    """Put the state saved in ``state_dir`` back into ``model`` (unwrapped), ``optimizer``, ``scheduler`` and the
    RNGs, and return its progress; a fresh :class:`Progress` when there is no state, one of another run (which
    is deleted), or one that cannot be read (which is set aside).

    In a data-parallel run every process restores; ``barrier`` (waiting for every process) runs once all have
    read the file, before the main process (``is_main``) may delete it or set it aside.
    """
    from safetensors import SafetensorError

    path = state_path(state_dir)
    try:
        saved, error = load_state(state_dir), None
    except (SafetensorError, ValueError) as err:  # ValueError: bad JSON, text, format or names
        saved, error = None, err
    if barrier is not None:
        barrier()
    if error is not None:
        if is_main:
            aside = set_aside(path)
            print(f"{description}: warning: cannot read the resume state {path} ({error}); moved it to {aside} "
                  "and starting afresh", file=sys.stderr)  # fmt: skip
        return Progress()
    if saved is None:
        return Progress()
    tensors, info = saved
    if info["run_key"] != key:
        if is_main:
            print(f"{description}: {path} belongs to another run; starting afresh", file=sys.stderr)
            remove_state(state_dir)
        return Progress()
    order = list(model.state_dict())
    model.load_state_dict(tensors["model"])
    optimizer.load_state_dict(optimizer_state_dict(tensors.get("optimizer", {}), info["optimizer"]))
    scheduler.load_state_dict(info["scheduler"])
    restore_rng(tensors["rng"], info["rng"])
    if is_main:
        print(f"{description}: resuming at step {info['step']} from {path}", file=sys.stderr)
    peak = tensors.get("peak")
    peak = in_order(peak, order) if peak is not None else None
    return Progress(info["step"], info["eval_curve"], info["peak_metric"], info["peak_step"], peak)


def in_order(named: dict[str, "torch.Tensor"], order: list[str]) -> dict[str, "torch.Tensor"]:
    """``named`` with the names of ``order`` first, in that order (a saved file keeps them sorted by name)."""
    return {**{name: named[name] for name in order if name in named}, **named}


def set_aside(path: Path) -> Path:
    """Move an unreadable state file out of the way, beside its state directory (which is deleted when the run
    finishes) under a name with the time, and return where it went."""
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S%f")
    aside = path.parent.with_name(f"{path.parent.name}.{path.name}.corrupt-{stamp}")
    path.rename(aside)
    return aside
