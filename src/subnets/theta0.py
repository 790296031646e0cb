"""theta0: the task model at the point every round and every transfer starts from.

theta0 = the pre-trained body + the task head initialised from the run's seed. Building it twice with one seed
gives bitwise-equal weights, and a short fingerprint of those weights is stored in every mask file so that a
mask is never applied to a model it was not found on.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from subnets.tasks.base import Task


def _looks_like_local_path(source: str) -> bool:
    # Hub ids are "name" or "owner/name"; anything else is meant as a path on disk.
    return source.startswith((".", "/", "~")) or source.count("/") > 1


def resolve_pretrained(source: str | os.PathLike) -> str:
    """Return ``source`` as a local directory or a hub id, or fail early with a clear error.

    A local directory must hold a ``config.json``; anything shaped like a path that does not exist is an error
    (rather than being sent to the hub as an id and failing there with a confusing message).
    """
    source = str(source)
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"pre-trained model directory {path} has no config.json")
        return str(path)
    if path.exists() or _looks_like_local_path(source):
        raise FileNotFoundError(f"pre-trained model {source!r}: no such model directory")
    return source


def model_family(pretrained: str | os.PathLike) -> str:
    """The model family (``bert`` or ``t5``, a key of ``masks.PRUNABLE_PATTERNS``) of a local model directory,
    from the ``model_type`` of its config.json: it picks the task adapters and the prunable weights."""
    import json

    from subnets.masks import MODEL_TYPE_FAMILIES

    config_path = Path(resolve_pretrained(pretrained)) / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{pretrained}: not a local model directory with a config.json")
    model_type = json.loads(config_path.read_text()).get("model_type")
    if model_type not in MODEL_TYPE_FAMILIES:
        raise ValueError(f"{config_path}: model_type {model_type!r} is none of {sorted(MODEL_TYPE_FAMILIES)}")
    return MODEL_TYPE_FAMILIES[model_type]


def build_task_model(pretrained: str | os.PathLike, task: "Task", seed: int):
    """Load the pre-trained body for ``task`` and initialise its new head from ``seed`` (theta0)."""
    import torch
    import transformers

    source = resolve_pretrained(pretrained)
    # Heads missing from the checkpoint are initialised from torch's global RNG during from_pretrained,
    # so seeding right before it makes the head a function of the seed alone.
    torch.manual_seed(seed)
    transformers.logging.set_verbosity_error()  # the load report lists the new head; it is expected
    model = task.model_class().from_pretrained(source, trust_remote_code=False, **task.model_kwargs())
    return model


def fingerprint(model: "torch.nn.Module | dict[str, torch.Tensor]", length: int = 16) -> str:
    """A short hex digest of every parameter and buffer (names, dtypes, shapes and bytes), in name order."""
    import torch

    state = model.state_dict() if isinstance(model, torch.nn.Module) else model
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()[:length]


def snapshot_pretrained(source: str | os.PathLike, out_dir: str | os.PathLike, family: str | None = None) -> Path:
    """Copy a pre-trained model (hub id or local directory) with its tokenizer to ``out_dir`` as safetensors.

    The pipeline reads theta0's body from this snapshot only, so a hub model that changes upstream does not
    silently change a study. With ``family`` the model must be of that family (checked before the weights load).
    """
    from transformers import AutoConfig, AutoModelForMaskedLM, AutoModelForSeq2SeqLM, AutoTokenizer

    from subnets.io import atomic_path
    from subnets.masks import MODEL_TYPE_FAMILIES

    source = resolve_pretrained(source)
    config = AutoConfig.from_pretrained(source, trust_remote_code=False)
    if family is not None and MODEL_TYPE_FAMILIES.get(config.model_type) != family:
        raise ValueError(
            f"{source}: model_type {config.model_type!r} is not of model family {family!r} "
            f"(known model types: {MODEL_TYPE_FAMILIES})"
        )
    auto_class = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForMaskedLM
    model = auto_class.from_pretrained(source, trust_remote_code=False)
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    with atomic_path(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    return Path(out_dir)
