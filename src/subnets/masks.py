"""Masks over the prunable weights: which weights are prunable, magnitude and random pruning, bit-packed
mask files, and per-layer overlap.

A mask maps parameter names to bool tensors of the parameters' shapes; True means the weight is kept.
Every function that ranks or draws walks the parameters in sorted name order, so results depend only on the
contents of the mappings, never on their insertion order.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import struct
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence, Union

import numpy as np
import torch
from safetensors import SafetensorError, safe_open

from subnets.io import atomic_path

Mask = dict[str, torch.Tensor]
NamedTensors = Union[torch.nn.Module, Mapping[str, torch.Tensor], Iterable[tuple[str, torch.Tensor]]]

# The prunable weights of each model family: a parameter is prunable when one of its family's regexes matches
# its whole name. The capturing groups of the matching regex, joined by ".", are the parameter's layer id.
# BERT: the six encoder matrices of each layer and the pooler (if the task model has one), with or without the
# "bert." prefix of the task models; never embeddings, biases, LayerNorm or task heads (classifier.*, cls.*).
# T5 / mT5: q/k/v/o of self- and cross-attention and the feed-forward matrices (wi, or wi_0/wi_1 when gated,
# and wo) of encoder and decoder blocks; never embeddings, layer norms, relative attention bias or lm_head.
# XLM-R / RoBERTa (xlmr): BERT's six encoder matrices per layer and the pooler (when the task model has one;
# XLM-R's sequence classifier has none), with or without the "roberta." prefix; never embeddings, biases,
# LayerNorm or task heads (lm_head.*, classifier.*).
# Decoder-only (decoder): Llama-style q/k/v/o and gate/up/down projections of each layer, with or without the
# "model." prefix (Llama, Qwen2, Mistral, Gemma); BLOOM's fused query_key_value, attention dense, dense_h_to_4h
# and dense_4h_to_h, with or without "transformer."; never embeddings, norms, biases (Qwen2's q/k/v biases
# included) or task heads (lm_head, score, classifier).
PRUNABLE_PATTERNS: dict[str, list[str]] = {
    "bert": [
        r"(?:bert\.)?encoder\.layer\.(\d+)\.(?:attention\.self\.(?:query|key|value)|attention\.output\.dense"
        r"|intermediate\.dense|output\.dense)\.weight",
        r"(?:bert\.)?(pooler)\.dense\.weight",
    ],
    "t5": [
        r"(?:transformer\.)?(encoder|decoder)\.block\.(\d+)\.layer\.\d+\."
        r"(?:(?:SelfAttention|EncDecAttention)\.[qkvo]|DenseReluDense\.(?:wi|wi_0|wi_1|wo))\.weight",
    ],
    "xlmr": [
        r"(?:roberta\.)?encoder\.layer\.(\d+)\.(?:attention\.self\.(?:query|key|value)|attention\.output\.dense"
        r"|intermediate\.dense|output\.dense)\.weight",
        r"(?:roberta\.)?(pooler)\.dense\.weight",
    ],
    "decoder": [
        r"(?:model\.)?layers\.(\d+)\.(?:self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj)\.weight",
        r"(?:transformer\.)?h\.(\d+)\."
        r"(?:self_attention\.(?:query_key_value|dense)|mlp\.(?:dense_h_to_4h|dense_4h_to_h))\.weight",
    ],
}

# config.model_type -> key of PRUNABLE_PATTERNS
MODEL_TYPE_FAMILIES = {
    "bert": "bert",
    "t5": "t5",
    "mt5": "t5",
    "xlm-roberta": "xlmr",
    "roberta": "xlmr",
    "llama": "decoder",
    "qwen2": "decoder",
    "mistral": "decoder",
    "gemma": "decoder",
    "bloom": "decoder",
}

# File format: one uint8 tensor holding the bits of every parameter in the order of the "names" metadata.
FORMAT = "subnets.mask/1"
PACKED_KEY = "packed_mask"


def _named_tensors(model_or_named_params: NamedTensors) -> dict[str, torch.Tensor]:
    """Accept a module, a name -> tensor mapping (e.g. a state dict) or (name, tensor) pairs alike."""
    if isinstance(model_or_named_params, torch.nn.Module):
        return dict(model_or_named_params.named_parameters())
    return dict(model_or_named_params)


def infer_family(model: torch.nn.Module) -> str:
    """The key of PRUNABLE_PATTERNS for ``model``, from ``model.config.model_type``."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in MODEL_TYPE_FAMILIES:
        raise ValueError(
            f"cannot tell which weights are prunable for model_type {model_type!r}; "
            f"known model types: {sorted(MODEL_TYPE_FAMILIES)}"
        )
    return MODEL_TYPE_FAMILIES[model_type]


def _match(name: str, family: str | None = None) -> re.Match | None:
    families = [family] if family is not None else list(PRUNABLE_PATTERNS)
    for fam in families:
        for pattern in PRUNABLE_PATTERNS[fam]:
            match = re.fullmatch(pattern, name)
            if match:
                return match
    return None


def prunable_parameters(model_or_named_params: NamedTensors, family: str = "bert") -> dict[str, torch.Tensor]:
    """The prunable parameters (or tensors, for a state dict), in the model's order.

    Raises ValueError when none matches, which almost always means the wrong ``family``.
    """
    if family not in PRUNABLE_PATTERNS:
        raise ValueError(f"unknown model family {family!r}; known: {sorted(PRUNABLE_PATTERNS)}")
    named = _named_tensors(model_or_named_params)
    prunable = {name: tensor for name, tensor in named.items() if _match(name, family)}
    if not prunable:
        raise ValueError(
            f"no parameter matches the prunable patterns of family {family!r} "
            f"(first names: {list(named)[:3]}); is it the right family?"
        )
    return prunable


def prunable_shapes(model_or_named_params: NamedTensors, family: str = "bert") -> dict[str, torch.Size]:
    """Shapes of the prunable parameters: all that :func:`random_mask` needs."""
    return {name: tensor.shape for name, tensor in prunable_parameters(model_or_named_params, family).items()}


def layer_of(name: str) -> str:
    """Layer id of a prunable parameter: BERT and XLM-R "0", "1", ..., "pooler"; T5 "encoder.0", ...,
    "decoder.0", ...; decoder-only models (Llama-style, BLOOM) "0", "1", ..."""
    match = _match(name)
    if match is None:
        raise ValueError(f"{name!r} is not a prunable parameter of any known family")
    return ".".join(match.groups())


def layer_sort_key(layer: str) -> tuple[int, int]:
    """Orders layer ids as a model stacks them: encoder layers by number (BERT and XLM-R "0", "1", ..., "10"
    after "9"; T5 "encoder.N"; the layers of a decoder-only model likewise), then the T5 decoder's, then the
    pooler."""
    section, _, index = layer.rpartition(".")
    if layer == "pooler":
        return (2, 0)
    return (1 if section == "decoder" else 0, int(index))


def _check_same_layout(reference: Mapping[str, torch.Tensor], other: Mapping[str, torch.Tensor], what: str) -> None:
    for name, tensor in reference.items():
        if name not in other:
            raise ValueError(f"{what} lacks parameter {name!r}")
        if tuple(other[name].shape) != tuple(tensor.shape):
            raise ValueError(
                f"{what}: parameter {name!r} has shape {tuple(other[name].shape)}, expected {tuple(tensor.shape)}"
            )
    for name in other:
        if name not in reference:
            raise ValueError(f"{what} has an unexpected parameter {name!r}")


def _count_to_remove(fraction: float, total: int, what: str) -> int:
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"{what} must lie in [0, 1], not {fraction}")
    # Python's round, as torch.nn.utils.prune uses for fractional amounts.
    return round(fraction * total)


def magnitude_prune(
    weights: Mapping[str, torch.Tensor], mask: Mapping[str, torch.Tensor] | None, prune_fraction: float
) -> Mask:
    """Remove ``round(prune_fraction * total entries)`` of the kept weights with the smallest |w|, globally.

    The count is a share of the ORIGINAL total (all entries of ``weights``), so every IMP round removes the
    same number of weights. Ties at the threshold are broken by position: the earliest entries (parameters in
    sorted name order, then row-major index) go first. Works in one O(n) selection over the kept magnitudes
    (no full sort); nothing is modified in place. ``mask=None`` means everything is kept.
    """
    names = sorted(weights)
    if mask is None:
        kept = {name: torch.ones(weights[name].shape, dtype=torch.bool) for name in names}
    else:
        _check_same_layout(weights, mask, "the mask")
        kept = {name: mask[name].to(device="cpu", dtype=torch.bool) for name in names}
    total = sum(weights[name].numel() for name in names)
    kept_total = sum(int(kept[name].count_nonzero()) for name in names)
    n_remove = _count_to_remove(prune_fraction, total, "prune_fraction")
    if n_remove > kept_total:
        raise ValueError(f"cannot remove {n_remove} weights: only {kept_total} of {total} are still kept")
    if n_remove == 0:
        return {name: kept[name].clone() for name in weights}

    # float64 only when the weights need it: their magnitudes then keep their distinctness.
    dtype = torch.float64 if any(weights[n].dtype == torch.float64 for n in names) else torch.float32

    def magnitudes(name: str) -> torch.Tensor:
        return weights[name].detach().to(device="cpu", dtype=dtype).abs()

    # The kept magnitudes, concatenated; one pass per parameter keeps the temporaries small.
    pool = torch.empty(kept_total, dtype=dtype)
    offset = 0
    for name in names:
        values = magnitudes(name).masked_select(kept[name])
        if not torch.isfinite(values).all():
            raise ValueError(f"parameter {name!r} holds non-finite weights; refusing to rank them")
        pool[offset : offset + values.numel()] = values
        offset += values.numel()
    flat = pool.numpy()
    flat.partition(n_remove - 1)  # in place: the n_remove smallest now lead, the threshold at n_remove - 1
    threshold = flat[n_remove - 1].item()
    still_at_threshold = n_remove - int(np.count_nonzero(flat[: n_remove - 1] < threshold))
    del pool, flat

    pruned: Mask = {}
    for name in names:
        magnitude = magnitudes(name)
        new = kept[name] & (magnitude > threshold)
        ties = (kept[name] & (magnitude == threshold)).flatten().nonzero().flatten()
        keep_ties = ties[still_at_threshold:]  # the earliest tied entries are removed
        still_at_threshold = max(0, still_at_threshold - ties.numel())
        new.view(-1)[keep_ties] = True
        pruned[name] = new
    return {name: pruned[name] for name in weights}


def random_prune(mask: Mapping[str, torch.Tensor], target_sparsity: float, seed: int) -> Mask:
    """Remove kept entries uniformly at random until ``round(target_sparsity * total)`` are removed.

    Serves the paper's re-pruned baselines (footnote 9: a ticket at 10-40% pruned on at random to 50%).
    Seeded by a private torch.Generator: the global RNG is left alone and the result is deterministic.
    """
    names = sorted(mask)
    kept = {name: mask[name].to(device="cpu", dtype=torch.bool) for name in names}
    total = sum(m.numel() for m in kept.values())
    kept_total = sum(int(m.count_nonzero()) for m in kept.values())
    n_remove = _count_to_remove(target_sparsity, total, "target_sparsity") - (total - kept_total)
    if n_remove < 0:
        raise ValueError(
            f"the mask is already sparser ({(total - kept_total) / total:.4f}) than the target {target_sparsity}"
        )
    generator = torch.Generator().manual_seed(seed)
    # Rank r of the kept entries (sorted name order, then row-major) is removed when chosen[r].
    chosen = torch.zeros(kept_total, dtype=torch.bool)
    chosen[torch.randperm(kept_total, generator=generator)[:n_remove]] = True
    result: Mask = {}
    offset = 0
    for name in names:
        flat_kept = kept[name].flatten()
        count = int(flat_kept.count_nonzero())
        new = flat_kept.clone()
        new[flat_kept] = ~chosen[offset : offset + count]
        offset += count
        result[name] = new.view(kept[name].shape)
    return {name: result[name] for name in mask}


def random_mask(shapes: Mapping[str, Sequence[int]], sparsity: float, seed: int) -> Mask:
    """A uniformly random mask with exactly ``round(sparsity * total)`` entries removed over all parameters."""
    full = {name: torch.ones(tuple(shape), dtype=torch.bool) for name, shape in shapes.items()}
    return random_prune(full, sparsity, seed)


def kept_count(mask: Mapping[str, torch.Tensor]) -> int:
    """Number of kept (True) entries over all parameters."""
    return sum(int(m.count_nonzero()) for m in mask.values())


def sparsity(mask: Mapping[str, torch.Tensor]) -> float:
    """Share of entries removed."""
    total = sum(m.numel() for m in mask.values())
    if total == 0:
        raise ValueError("the sparsity of an empty mask is undefined")
    return 1.0 - kept_count(mask) / total


def apply_mask_(named_params: NamedTensors, mask: Mapping[str, torch.Tensor]) -> None:
    """Zero the pruned entries in place, so that theta0 * mask is what the model holds.

    Uses a fill rather than a product so that a pruned NaN or inf still becomes exactly zero.
    """
    named = _named_tensors(named_params)
    with torch.no_grad():
        for name, m in mask.items():
            if name not in named:
                raise ValueError(f"the mask names a parameter the model does not have: {name!r}")
            param = named[name]
            param.masked_fill_(~m.to(device=param.device, dtype=torch.bool), 0)


def carry_over(mask: Mapping[str, torch.Tensor], shapes: Mapping[str, Sequence[int]]) -> tuple[Mask, list[str]]:
    """Carry a ticket over to another task's model of the same family (cross-task transfer, appendix C).

    ``shapes`` are the target model's prunable parameters. Parameters both have keep the ticket's decisions
    (their shapes must agree); those only the target has (the pooler, when an NER or MLM ticket goes to
    sequence classification) stay dense, because the ticket never decided about them; those only the ticket
    has are dropped. Returns the mask in the target's order and the names added dense.
    """
    carried: Mask = {}
    added_dense: list[str] = []
    for name, shape in shapes.items():
        if name in mask:
            if tuple(mask[name].shape) != tuple(shape):
                raise ValueError(
                    f"parameter {name!r} has shape {tuple(mask[name].shape)} in the ticket, {tuple(shape)} in the target"
                )
            carried[name] = mask[name].to(dtype=torch.bool).clone()
        else:
            carried[name] = torch.ones(tuple(shape), dtype=torch.bool)
            added_dense.append(name)
    if not any(name in mask for name in shapes):
        raise ValueError("the ticket and the target model share no prunable parameter")
    return carried, added_dense


def decided_sparsity(mask: Mapping[str, torch.Tensor], metadata: Mapping[str, Any] | None = None) -> float:
    """Sparsity over the parameters the mask decided about: all but those :func:`carry_over` added dense."""
    added = set((metadata or {}).get("added_dense") or [])
    decided = {name: m for name, m in mask.items() if name not in added}
    return sparsity(decided)


def check_sparsity(
    mask: Mapping[str, torch.Tensor],
    metadata: Mapping[str, Any],
    expected_percent: int,
    path: str | os.PathLike | None = None,
) -> None:
    """Refuse a mask whose sparsity (in whole percent, over the decided parameters) is not the one asked for."""
    found = round(100 * decided_sparsity(mask, metadata))
    if found != expected_percent:
        source = f"mask file {path}" if path is not None else "the mask"
        raise ValueError(f"{source}: sparsity is {found}%, but {expected_percent}% was asked for")


# ---------------------------------------------------------------------------------------------- provenance


@dataclass(frozen=True)
class Provenance:
    """Where a mask comes from: one record for every producer, stored in the mask file's metadata.

    ``method``: imp, random, repruned (footnote 9), cross_task (appendix C), or a mask method (lt_sft, fish).
    ``language`` is None for a random mask (it depends on the task's model only). ``parent`` is the mask file it
    was derived from (the previous IMP round's ticket, the re-pruned ticket), ``parent_sparsity_percent`` that
    mask's sparsity. ``details`` holds what only one method records (LT-SFT's dense metrics, FISH's examples).
    ``cost`` is what the job that wrote the mask spent on it, ``cost_from_theta0`` everything it took to find it
    from theta0 (an IMP ticket: every round before it), both :class:`subnets.costs.Cost` as dicts; None when
    unknown (masks written before costs were recorded) or free (random masks: zero).
    """

    method: str
    task: str
    language: str | None
    seed: int
    sparsity_percent: int
    theta0_fingerprint: str | None = None
    parent: str | None = None
    parent_sparsity_percent: int | None = None
    prune_from: str | None = None
    ticket_task: str | None = None
    added_dense: tuple[str, ...] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    cost: dict[str, Any] | None = None
    cost_from_theta0: dict[str, Any] | None = None

    def to_metadata(self) -> dict[str, Any]:
        """Every field, in the fixed order of the class (JSON-ready)."""
        record = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if self.added_dense is not None:
            record["added_dense"] = list(self.added_dense)
        return record

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any], path: str | os.PathLike | None = None) -> "Provenance":
        """The record of a mask file's metadata (from :func:`load_mask`); ValueError naming ``path`` if it has none."""
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [key for key in ("method", "task", "seed", "sparsity_percent") if key not in metadata]
        if missing:
            raise ValueError(f"{path or 'the mask'}: metadata lacks the provenance field(s) {missing}")
        values = {key: metadata[key] for key in names if key in metadata}
        if values.get("added_dense") is not None:
            values["added_dense"] = tuple(values["added_dense"])
        return cls(**values)

    def derive(self, **changes: Any) -> "Provenance":
        """A copy with ``changes``: the record of a mask made from this one."""
        return dataclasses.replace(self, **changes)


# ---------------------------------------------------------------------------------------------------- files

_COMPUTED_KEYS = ("format", "names", "shapes", "sparsity", "kept_count")


def _agrees(given: Any, computed: Any) -> bool:
    if isinstance(given, float) or isinstance(computed, float):
        return isinstance(given, (int, float)) and math.isclose(given, computed, rel_tol=0.0, abs_tol=1e-6)
    return given == computed


def _write_safetensors(path: str | os.PathLike, key: str, data: np.ndarray, header: Mapping[str, str]) -> None:
    """One uint8 tensor and string metadata in the safetensors layout (8-byte length, JSON header padded with
    spaces to 8 bytes, raw data), with the metadata in the given order. The safetensors library writes its
    metadata in hash order, which changes from process to process, so equal masks would get unequal files."""
    entry = {"__metadata__": dict(header), key: {"dtype": "U8", "shape": [int(data.size)], "data_offsets": [0, int(data.size)]}}
    blob = json.dumps(entry, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        f.write(np.ascontiguousarray(data, dtype=np.uint8).tobytes())


def save_mask(
    path: str | os.PathLike, mask: Mapping[str, torch.Tensor], metadata: "Provenance | Mapping[str, Any]"
) -> None:
    """Write ``mask`` as one bit per weight (safetensors, one packed uint8 tensor), atomically.

    ``metadata`` is the mask's :class:`Provenance` (or a mapping, e.g. a test's), stored JSON-encoded key by key,
    strings included, so that :func:`load_mask` gives back exactly what was passed. Names, shapes, sparsity and
    kept count are computed from the mask; a caller may pass them only if they agree. The same mask and metadata
    always give the same bytes: keys in the record's order, then the computed ones; names in the mask's order.
    """
    if isinstance(metadata, Provenance):
        metadata = metadata.to_metadata()
    names = list(mask)
    bits = torch.cat([mask[name].to(device="cpu", dtype=torch.bool).flatten() for name in names])
    computed = {
        "format": FORMAT,
        "names": names,
        "shapes": [list(mask[name].shape) for name in names],
        "sparsity": sparsity(mask),
        "kept_count": int(bits.count_nonzero()),
    }
    for key in _COMPUTED_KEYS:
        if key in metadata and not _agrees(metadata[key], computed[key]):
            raise ValueError(f"{path}: metadata {key!r}={metadata[key]!r} disagrees with the mask ({computed[key]!r})")
    header = {}
    for key, value in {**metadata, **computed}.items():
        try:
            header[str(key)] = json.dumps(value)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: metadata {key!r} is not JSON-serialisable: {err}") from err
    with atomic_path(path) as tmp:
        _write_safetensors(tmp, PACKED_KEY, np.packbits(bits.numpy()), header)


def _metadata_in_file_order(path: str | os.PathLike) -> dict[str, str]:
    """The safetensors metadata as the file orders it (the library's reader returns it in hash order)."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(length)).get("__metadata__") or {}


def load_mask(path: str | os.PathLike) -> tuple[Mask, dict[str, Any]]:
    """Read a file written by :func:`save_mask`: ``(mask, metadata)``, both as they were saved.

    Anything that is not a complete mask file gives a ValueError naming the file.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such mask file")
    try:
        with safe_open(str(path), framework="np") as f:
            packed = f.get_tensor(PACKED_KEY) if PACKED_KEY in f.keys() else None
        raw = _metadata_in_file_order(path)
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable safetensors file ({err})") from err
    try:
        metadata = {key: json.loads(value) for key, value in raw.items()}
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: metadata is not the JSON that save_mask writes ({err})") from err
    if metadata.get("format") != FORMAT or packed is None:
        raise ValueError(f"{path}: not a mask file (format {metadata.get('format')!r}, expected {FORMAT!r})")
    names, shapes = metadata.get("names"), metadata.get("shapes")
    if not (isinstance(names, list) and isinstance(shapes, list) and len(names) == len(shapes)):
        raise ValueError(f"{path}: metadata 'names' and 'shapes' are missing or do not match")
    sizes = [math.prod(shape) for shape in shapes]
    total = sum(sizes)
    n_bytes = (total + 7) // 8
    if packed.dtype != np.uint8 or packed.shape != (n_bytes,):
        raise ValueError(f"{path}: packed bits have shape {packed.shape}, expected ({n_bytes},) for {total} weights")
    bits = torch.from_numpy(np.unpackbits(packed, count=total).astype(bool))
    kept = int(bits.count_nonzero())
    if kept != metadata.get("kept_count"):
        raise ValueError(f"{path}: {kept} kept weights, but the metadata says {metadata.get('kept_count')}")
    mask = {name: chunk.view(shape).clone() for name, chunk, shape in zip(names, bits.split(sizes), shapes)}
    return mask, metadata


def check_mask_fits(
    mask: Mapping[str, torch.Tensor],
    model_or_named_params: NamedTensors,
    path: str | os.PathLike | None = None,
    theta0_fingerprint: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Refuse a mask that was not found on this model, before any training starts.

    ``model_or_named_params`` is a model (its prunable parameters are compared, family from its config) or the
    prunable name -> tensor mapping itself. The error names ``path`` and the first mismatching parameter (in
    the model's order; then names only the mask has), or the theta0 fingerprints when both are known.
    """
    if isinstance(model_or_named_params, torch.nn.Module):
        expected = prunable_parameters(model_or_named_params, infer_family(model_or_named_params))
    else:
        expected = _named_tensors(model_or_named_params)
    source = f"mask file {path}" if path is not None else "the mask"
    _check_same_layout(expected, mask, source)
    recorded = (metadata or {}).get("theta0_fingerprint")
    if theta0_fingerprint is not None and recorded is not None and recorded != theta0_fingerprint:
        raise ValueError(
            f"{source} was found on theta0 {recorded}, but this model's theta0 is {theta0_fingerprint}"
        )


# -------------------------------------------------------------------------------------------------- overlap


def jaccard_by_layer(masks: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, float]:
    """Per layer, |kept in all masks| / |kept in any mask|, with counts summed over the layer's matrices.

    Keys: the layer ids of :func:`layer_of` in model order (:func:`layer_sort_key`; "pooler" last when
    present), then "all".
    A layer where no mask keeps anything gets nan (the overlap of empty sets is undefined).
    """
    masks = list(masks)
    if len(masks) < 2:
        raise ValueError(f"overlap needs two or more masks, got {len(masks)}")
    for i, other in enumerate(masks[1:], start=1):
        _check_same_layout(masks[0], other, f"mask {i}")
    return jaccard_of_packed([pack_by_layer(mask) for mask in masks])


def pack_by_layer(mask: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Each layer's kept bits (its matrices in the mask's order), packed eight to a byte: the form in which
    :func:`jaccard_of_packed` compares masks, an eighth of the memory and of the work of bool tensors. Pack a
    mask once when it is compared with many."""
    parts: dict[str, list[np.ndarray]] = {}
    for name, kept in mask.items():
        parts.setdefault(layer_of(name), []).append(kept.to(device="cpu", dtype=torch.bool).flatten().numpy())
    return {layer: np.packbits(np.concatenate(arrays)) for layer, arrays in parts.items()}


def jaccard_of_packed(packed: Sequence[Mapping[str, np.ndarray]]) -> dict[str, float]:
    """:func:`jaccard_by_layer` of masks packed by :func:`pack_by_layer` (the padding bits are zero in every
    mask, so they count in neither the intersection nor the union)."""
    for i, other in enumerate(packed[1:], start=1):
        if {k: v.shape for k, v in other.items()} != {k: v.shape for k, v in packed[0].items()}:
            raise ValueError(f"mask {i} has other layers or layer sizes than mask 0")
    inter: dict[str, int] = {}
    union: dict[str, int] = {}
    for layer in packed[0]:
        both, either = packed[0][layer].copy(), packed[0][layer].copy()
        for other in packed[1:]:
            np.bitwise_and(both, other[layer], out=both)
            np.bitwise_or(either, other[layer], out=either)
        inter[layer] = int(np.bitwise_count(both).sum(dtype=np.int64))
        union[layer] = int(np.bitwise_count(either).sum(dtype=np.int64))
    layers = sorted(inter, key=layer_sort_key)
    inter["all"], union["all"] = sum(inter.values()), sum(union.values())
    return {layer: inter[layer] / union[layer] if union[layer] else math.nan for layer in [*layers, "all"]}


def expected_random_jaccard(keep_share: float, n_masks: int = 2) -> float:
    """Expected overlap of ``n_masks`` independent random masks keeping share k: k^n / (1 - (1 - k)^n).

    For two masks this is k / (2 - k): 1/3 at sparsity 0.5, computed in that form (the tables' figure, to the last
    bit). nan when k = 0 (nothing kept anywhere).
    """
    if not 0.0 <= keep_share <= 1.0:
        raise ValueError(f"keep_share must lie in [0, 1], not {keep_share}")
    if n_masks < 2:
        raise ValueError(f"overlap needs two or more masks, got {n_masks}")
    if keep_share == 0.0:
        return math.nan
    if n_masks == 2:
        return keep_share / (2.0 - keep_share)
    return keep_share**n_masks / (1.0 - (1.0 - keep_share) ** n_masks)
