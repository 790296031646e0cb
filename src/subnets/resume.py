"""The resume state of a training run: one safetensors file that a killed or requeued job continues from.

Tensors (weights, peak weights, optimizer moments, torch's RNG states) are stored as safetensors; everything
else (step, evaluation curve, peak, scheduler, optimizer hyperparameters, Python and NumPy RNG states) as JSON
in the same file's metadata. One file replaced atomically means a kill at any moment leaves either the previous
state or the new one, never a mix of two steps. No pickle is ever loaded.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from subnets.io import atomic_path

if TYPE_CHECKING:
    import torch

STATE_FILE = "state.safetensors"
FORMAT = 1
_INFO_KEY = "resume_state"


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
