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
    """The model family (``bert``, ``t5``, ``xlmr`` or ``decoder``, a key of ``masks.PRUNABLE_PATTERNS``) of a
    local model directory, from the ``model_type`` of its config.json: it picks the task adapters and the
    prunable weights."""
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
    from subnets.masks import MODEL_TYPE_FAMILIES

    family = MODEL_TYPE_FAMILIES.get(model.config.model_type)
    if family == "decoder" and getattr(model.config, "pad_token_id", None) is None:
        # A decoder not snapshotted by snapshot_pretrained: its sequence classifier needs the pad id.
        from transformers import AutoTokenizer

        from subnets.tasks.decoder import prepare_decoder_tokenizer

        prepare_decoder_tokenizer(AutoTokenizer.from_pretrained(source, trust_remote_code=False), model.config)
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


SNAPSHOT_INFO = "snapshot.json"  # in the snapshot directory: where theta0's body came from, exactly


def resolve_model_revision(source: str, revision: str | None = None) -> dict:
    """Where a model comes from, pinned: ``{"kind": "hub", "id", "requested", "revision": <commit sha>}`` for a
    hub id (``revision`` None = the hub's ``main``), ``{"kind": "local", "path", "revision": "local",
    "content_hash"}`` for a local directory (a revision makes no sense there: ValueError)."""
    if Path(source).is_dir():
        if revision is not None:
            raise ValueError(f"model.revision {revision!r} is set, but {source} is a local directory (no revisions)")
        from subnets.data.local import content_hash

        return {"kind": "local", "path": str(Path(source).resolve()), "revision": "local",
                "content_hash": content_hash(source)}  # fmt: skip
    from subnets.data import hub  # one hub client for models and datasets (tests replace hub.hub_api)

    requested = revision or "main"
    sha = hub.hub_api().model_info(source, revision=requested).sha
    if not sha:
        raise ValueError(f"hub model {source}@{requested}: the hub gave no commit for this revision")
    return {"kind": "hub", "id": source, "requested": requested, "revision": sha}


def snapshot_info(snapshot_dir: str | os.PathLike) -> dict:
    """The ``snapshot.json`` of a snapshot made by :func:`snapshot_pretrained` (source, resolved revision, ...)."""
    import json

    path = Path(snapshot_dir) / SNAPSHOT_INFO
    if not path.is_file():
        raise FileNotFoundError(f"{snapshot_dir}: no {SNAPSHOT_INFO} (not made by snapshot_pretrained)")
    return json.loads(path.read_text())


def _pretraining_class(config):
    """The class that holds a whole pre-training checkpoint of ``config``'s model type.

    BERT: ``BertForPreTraining`` (MLM head, next-sentence head AND the pooler; ``BertForMaskedLM`` has no pooler,
    so a snapshot through it would leave every sequence-classification model with a random pooler).
    Encoder-decoders (T5 / mT5): the seq2seq LM. Decoder-only models (model family ``decoder``): the causal LM.
    Other encoders without a pre-training class: the masked LM.
    """
    from transformers import AutoModelForMaskedLM, AutoModelForPreTraining, AutoModelForSeq2SeqLM
    from transformers.models.auto.modeling_auto import MODEL_FOR_PRETRAINING_MAPPING_NAMES

    from subnets.masks import MODEL_TYPE_FAMILIES

    if config.is_encoder_decoder:
        return AutoModelForSeq2SeqLM
    if MODEL_TYPE_FAMILIES.get(config.model_type) == "decoder":
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM
    if config.model_type in MODEL_FOR_PRETRAINING_MAPPING_NAMES:
        return AutoModelForPreTraining
    return AutoModelForMaskedLM


def snapshot_pretrained(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    family: str | None = None,
    *,
    revision: str | None = None,
) -> Path:
    """Copy a pre-trained model (hub id or local directory) with its tokenizer to ``out_dir`` as safetensors.

    The pipeline reads theta0's body from this snapshot only, so a hub model that changes upstream does not
    silently change a study. The WHOLE pre-training checkpoint is kept (for BERT: the pooler and both
    pre-training heads), so theta0's body is exactly the published weights. ``revision`` (a branch, tag or
    commit; None = ``main``) pins a hub model; the commit it resolves to is what every file is read at, and it
    is recorded, with any weights the checkpoint lacked, in ``out_dir/snapshot.json`` (a local directory is
    recorded as ``"local"`` with a content hash). With ``family`` the model must be of that family (checked
    before the weights load).
    """
    import json
    import warnings

    import torch
    from transformers import AutoConfig, AutoTokenizer

    from subnets.io import atomic_path
    from subnets.masks import MODEL_TYPE_FAMILIES

    source = resolve_pretrained(source)
    origin = resolve_model_revision(source, revision)
    pinned = {"revision": origin["revision"]} if origin["kind"] == "hub" else {}
    config = AutoConfig.from_pretrained(source, trust_remote_code=False, **pinned)
    if family is not None and MODEL_TYPE_FAMILIES.get(config.model_type) != family:
        raise ValueError(
            f"{source}: model_type {config.model_type!r} is not of model family {family!r} "
            f"(known model types: {MODEL_TYPE_FAMILIES})"
        )
    auto_class = _pretraining_class(config)
    torch.manual_seed(0)  # weights a checkpoint lacks are drawn reproducibly (and reported below)
    model, loading = auto_class.from_pretrained(
        source, trust_remote_code=False, output_loading_info=True, **pinned
    )
    missing = sorted(loading.get("missing_keys") or ())
    if missing:
        warnings.warn(
            f"{source}: the checkpoint lacks {len(missing)} weight(s) of {type(model).__name__} "
            f"({', '.join(missing[:6])}{', ...' if len(missing) > 6 else ''}); they are initialised with seed 0 "
            f"and recorded in {SNAPSHOT_INFO}",
            stacklevel=2,
        )
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False, **pinned)
    decoder_padding = {}
    if MODEL_TYPE_FAMILIES.get(config.model_type) == "decoder":
        # Every later loader reads the pad token and the padding side from the snapshot (subnets.tasks.decoder).
        from subnets.tasks.decoder import prepare_decoder_tokenizer

        decoder_padding = {"pad_token": prepare_decoder_tokenizer(tokenizer, model.config),
                           "padding_side": tokenizer.padding_side}  # fmt: skip
    info = {
        **origin,
        "source": str(source),
        "model_type": config.model_type,
        "model_class": type(model).__name__,
        "missing_from_checkpoint": missing,
        "tokenizer_class": type(tokenizer).__name__,
        **decoder_padding,
    }
    with atomic_path(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (Path(tmp) / SNAPSHOT_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return Path(out_dir)
