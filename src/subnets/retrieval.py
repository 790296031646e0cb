"""Zero-shot parallel sentence retrieval (paper Fig. 7): sentence vectors of a masked encoder, LASER's margin.

Pipeline: :func:`masked_encoder` puts theta0 * mask into a pre-trained encoder (no fine-tuning);
:func:`embed_sentences` encodes each language's sentences once, giving a vector per hidden layer 0..L;
:func:`margin_retrieval_accuracy` scores each layer's source / target vectors with the ratio margin of
Artetxe & Schwenk (2019), as LASER does (paper appendix E):

    score(x, y) = cos(x, y) / (sum_{z in N_k(x)} cos(x, z) / 2k + sum_{z in N_k(y)} cos(y, z) / 2k)

where N_k(x) are the k nearest neighbours of x among the OTHER language's sentences. Dividing by the
neighbourhood densities penalises "hubs", vectors that are close to everything, which plain cosine
nearest-neighbour search keeps retrieving.

Which targets compete (``candidates``):

- ``"knn"`` (default): LASER's forward search (``mine_bitexts.py --mode search``, ``xsim.py``), which the
  paper's authors used. Each source's candidates are its k cosine-nearest targets (the same kNN search that
  gives the densities); they are re-ranked by margin. accuracy@n, n <= k, counts the sources whose
  translation is among the n best candidates; a translation outside the k cosine-nearest is never found.
- ``"all"``: every target is scored by margin for every source (row blocks of the full margin matrix, memory
  bounded by ``block_size * n``). On anisotropic embeddings this finds translations that cosine ranks far
  down, so it can score several points higher than LASER on the same vectors.

The neighbourhoods come from a faiss exact inner-product index (as in LASER); a brute-force numpy path
(``backend="numpy"``) serves as a cross-check.

torch, transformers and faiss are imported where used: the workflow's small jobs import this module cheaply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal

import numpy as np

from subnets import masks

if TYPE_CHECKING:
    import torch

Backend = Literal["faiss", "numpy"]
Candidates = Literal["knn", "all"]
CANDIDATES = ("knn", "all")

# Rows of the (source x target) margin matrix held at once; 1024 x 3003 float32 is 12 MB.
DEFAULT_BLOCK_SIZE = 1024

# ------------------------------------------------------------------------------------------- margin scores


def _as_unit_rows(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` as C-contiguous float32 rows of unit L2 norm (what faiss needs); refuses zero rows."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    zero = np.flatnonzero(norms[:, 0] == 0)
    if zero.size:
        raise ValueError(f"{name} row {zero[0]} is all zeros: its cosine with anything is undefined")
    return x / norms


def _validate(src: np.ndarray, tgt: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    src, tgt = np.asarray(src), np.asarray(tgt)
    for name, x in (("src", src), ("tgt", tgt)):
        if x.ndim != 2:
            raise ValueError(f"{name} must be 2-D (one row per sentence), got shape {x.shape}")
        if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
            raise ValueError(f"{name} must hold real numbers, got dtype {x.dtype}")
        if not np.isfinite(x).all():
            raise ValueError(f"{name} holds non-finite values")
    if src.shape != tgt.shape:
        raise ValueError(
            f"src and tgt must have the same shape (row i of each is a pair), got {src.shape} and {tgt.shape}"
        )
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < src.shape[0]:
        raise ValueError(f"k must be an integer in [1, number of sentences), got {k!r} for {src.shape[0]} sentences")
    return _as_unit_rows(src, "src"), _as_unit_rows(tgt, "tgt")


def check_topk(topk: Sequence[int], k: int, candidates: str = "knn") -> list[int]:
    """``topk`` as a list, or a ValueError: an unknown ``candidates``, a bad n, or (for "knn") an n above k."""
    if candidates not in CANDIDATES:
        raise ValueError(f"unknown candidates {candidates!r}; use 'knn' (LASER's forward search) or 'all'")
    ranks = list(topk)
    if not ranks or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 for n in ranks):
        raise ValueError(f"topk must be a non-empty sequence of positive integers, got {topk!r}")
    too_deep = [int(n) for n in ranks if n > k]
    if candidates == "knn" and too_deep:
        raise ValueError(
            f"accuracy@{too_deep[0]} needs {too_deep[0]} candidates, but candidates='knn' (LASER's forward search) "
            f"scores only the k={k} cosine-nearest targets of each source: use topk n <= k={k}, raise k to "
            f"{max(too_deep)}, or rank every target with candidates='all'"
        )
    return ranks


def _row_blocks(n: int, block_size: int):
    if block_size < 1:
        raise ValueError(f"block_size must be positive, got {block_size}")
    for start in range(0, n, block_size):
        yield slice(start, min(start + block_size, n))


def nearest_neighbours(
    queries: np.ndarray, database: np.ndarray, k: int, backend: Backend = "faiss", block_size: int = DEFAULT_BLOCK_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """Cosines (float32) and indices (int64) of each (unit-norm) query's k nearest (unit-norm) database rows,
    nearest first, both of shape (n_queries, k). Among equal cosines the numpy path takes lower indices first;
    faiss's choice among ties may differ."""
    if backend == "faiss":
        import faiss

        index = faiss.IndexFlatIP(database.shape[1])
        index.add(database)
        similarities, indices = index.search(queries, k)
        return similarities, indices.astype(np.int64, copy=False)
    if backend == "numpy":
        similarities = np.empty((queries.shape[0], k), dtype=np.float32)
        indices = np.empty((queries.shape[0], k), dtype=np.int64)
        for rows in _row_blocks(queries.shape[0], block_size):
            block = queries[rows] @ database.T
            order = np.argsort(-block, axis=1, kind="stable")[:, :k]
            indices[rows] = order
            similarities[rows] = np.take_along_axis(block, order, axis=1)
        return similarities, indices
    raise ValueError(f"unknown backend {backend!r}; use 'faiss' or 'numpy'")


def neighbourhood_means(
    queries: np.ndarray, database: np.ndarray, k: int, backend: Backend = "faiss", block_size: int = DEFAULT_BLOCK_SIZE
) -> np.ndarray:
    """Mean cosine of each (unit-norm) query to its k nearest (unit-norm) database rows."""
    similarities, _ = nearest_neighbours(queries, database, k, backend, block_size)
    return _means(similarities)


def _means(similarities: np.ndarray) -> np.ndarray:
    return similarities.mean(axis=1, dtype=np.float64).astype(np.float32)


def _margin_block(src_rows: np.ndarray, tgt: np.ndarray, src_means: np.ndarray, tgt_means: np.ndarray) -> np.ndarray:
    # (mean_x + mean_y) / 2 is the formula's sum_x / 2k + sum_y / 2k.
    return (src_rows @ tgt.T) / ((src_means[:, None] + tgt_means[None, :]) / 2)


class UndefinedMarginError(ValueError):
    """Some sentence's mean cosine to its k nearest neighbours is not positive: the ratio margin is undefined."""


def _neighbourhoods(src: np.ndarray, tgt: np.ndarray, k: int, backend: Backend, block_size: int):
    """(src's k nearest targets as (cosines, indices), src's densities, tgt's densities)."""
    forward = nearest_neighbours(src, tgt, k, backend, block_size)  # N_k(x): x's neighbours among targets
    src_means = _means(forward[0])
    tgt_means = neighbourhood_means(tgt, src, k, backend, block_size)  # N_k(y): y's neighbours among sources
    # A ratio with a non-positive denominator reverses or breaks the ranking. Mean-pooled states of real BERTs
    # are strongly anisotropic and never get near this; a layer of a small model can.
    for name, means in (("src", src_means), ("tgt", tgt_means)):
        bad = np.flatnonzero(means <= 0)
        if bad.size:
            raise UndefinedMarginError(
                f"{name} row {bad[0]}: the mean cosine to its {k} nearest neighbours is {means[bad[0]]:.3g} <= 0; "
                "the ratio margin is undefined there"
            )
    return forward, src_means, tgt_means


def margin_scores(src: np.ndarray, tgt: np.ndarray, k: int = 4, backend: Backend = "faiss") -> np.ndarray:
    """The full (n_src, n_tgt) matrix of ratio-margin scores (O(n^2) memory: for inspection and tests)."""
    src, tgt = _validate(src, tgt, k)
    _, src_means, tgt_means = _neighbourhoods(src, tgt, k, backend, DEFAULT_BLOCK_SIZE)
    return _margin_block(src, tgt, src_means, tgt_means)


def _ahead_of_gold_among_all(src, tgt, src_means, tgt_means, block_size: int) -> np.ndarray:
    """Per source: how many targets other than the gold score a margin >= the gold's (every target ranked)."""
    n = src.shape[0]
    ahead = np.empty(n, dtype=np.int64)
    for rows in _row_blocks(n, block_size):
        scores = _margin_block(src[rows], tgt, src_means[rows], tgt_means)
        gold = scores[np.arange(scores.shape[0]), np.arange(rows.start, rows.stop)]
        ahead[rows] = np.count_nonzero(scores >= gold[:, None], axis=1) - 1
    return ahead


def _ahead_of_gold_among_knn(forward, src_means, tgt_means) -> np.ndarray:
    """Per source: how many of its k cosine-nearest targets other than the gold score a margin >= the gold's;
    k (never found) when the gold is not among them. LASER rescores exactly these candidates."""
    cosines, indices = forward
    n, k = indices.shape
    margins = cosines / ((src_means[:, None] + tgt_means[indices]) / 2)
    is_gold = indices == np.arange(n)[:, None]
    has_gold = is_gold.any(axis=1)
    gold = margins[np.arange(n), is_gold.argmax(axis=1)]
    ahead = np.count_nonzero(margins >= gold[:, None], axis=1) - 1
    return np.where(has_gold, ahead, k)


def margin_retrieval_accuracy(
    src: np.ndarray,
    tgt: np.ndarray,
    k: int = 4,
    topk: Sequence[int] = (1, 5),
    candidates: Candidates = "knn",
    *,
    backend: Backend = "faiss",
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> dict[int, float]:
    """Percent (0-100) of sources whose translation ``tgt[i]`` is among their ``n`` best targets by margin.

    ``src[i]`` and ``tgt[i]`` are translations of each other (float arrays, one row per sentence). Rows are
    L2-normalised in float32; ``k`` is the neighbourhood size of the margin (LASER's default 4; the paper's
    authors used 5). ``candidates="knn"`` (default) is LASER's forward search: only each source's k
    cosine-nearest targets are ranked by margin, so every n in ``topk`` must be <= k (else a ValueError
    names n and k; nothing is clipped). ``candidates="all"`` ranks every target by margin (any n).
    A candidate whose margin equals the gold's counts as ranked ahead of it, so a representation that cannot
    tell sentences apart (all rows equal) scores 0 at every n < k, not 100; which of several targets tied in
    cosine enter the k-nearest is faiss's choice (the lower index), as in LASER.
    Returns ``{n: accuracy@n for n in topk}``.
    """
    src, tgt = _validate(src, tgt, k)
    ranks_needed = check_topk(topk, k, candidates)
    forward, src_means, tgt_means = _neighbourhoods(src, tgt, k, backend, block_size)
    if candidates == "knn":
        ahead = _ahead_of_gold_among_knn(forward, src_means, tgt_means)
    else:
        ahead = _ahead_of_gold_among_all(src, tgt, src_means, tgt_means, block_size)
    n = src.shape[0]
    return {int(r): 100.0 * int(np.count_nonzero(ahead < r)) / n for r in ranks_needed}


# -------------------------------------------------------------------------------------- sentence vectors


def mean_pool_hidden_states(
    hidden_states: Sequence[torch.Tensor],
    attention_mask: torch.Tensor,
    special_tokens_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean over the real tokens of every layer: (batch, seq, hidden) per layer -> (layers, batch, hidden).

    Tokens count where ``attention_mask`` is 1 and, when ``special_tokens_mask`` is given, where it is 0
    (so [CLS] / [SEP] are left out). Sums are taken in float32 whatever the states' dtype (bf16 on GPU).
    A sentence with no counted token gets a zero vector. Layers are pooled one at a time: stacking all of
    them first would hold (layers x batch x seq x hidden) floats at once.
    """
    import torch

    weights = attention_mask.to(torch.bool)
    if special_tokens_mask is not None:
        weights = weights & ~special_tokens_mask.to(device=weights.device, dtype=torch.bool)
    weights = weights.to(torch.float32)
    counts = weights.sum(dim=1, keepdim=True).clamp(min=1.0)
    pooled = [torch.einsum("bsh,bs->bh", layer.to(torch.float32), weights) / counts for layer in hidden_states]
    return torch.stack(pooled)


def _encoder(model):
    """The bare encoder of a task model (BertForMaskedLM -> BertModel): its heads are not needed."""
    return getattr(model, "base_model", model)


def _model_inputs(tokenizer) -> list[str]:
    # Segment ids only for the models that take them (BERT does, DistilBERT-style encoders do not).
    return ["input_ids", "attention_mask"] + (
        ["token_type_ids"] if "token_type_ids" in tokenizer.model_input_names else []
    )


def _pad_batch(encodings: list[dict[str, list[int]]], pad_token_id: int, keys: list[str]) -> dict[str, torch.Tensor]:
    """Right-pad to the longest sentence of the batch, so position 0 is always the first real token."""
    import torch

    width = max(len(e["input_ids"]) for e in encodings)
    fill = {"input_ids": pad_token_id, "special_tokens_mask": 1}
    batch = {}
    for key in keys + ["special_tokens_mask"]:
        rows = [e[key] + [fill.get(key, 0)] * (width - len(e[key])) for e in encodings]
        batch[key] = torch.tensor(rows, dtype=torch.long)
    return batch


def sentence_token(model) -> str:
    """Which token's state is a sentence's vector for CCA: ``"first"`` ([CLS], or the first token) for encoders
    and encoder-decoders, ``"last"`` (the last non-pad token, the only one that has seen the whole sentence) for
    decoder-only models (model family ``decoder``)."""
    from subnets.masks import MODEL_TYPE_FAMILIES

    model_type = getattr(getattr(model, "config", None), "model_type", None)
    return "last" if MODEL_TYPE_FAMILIES.get(model_type) == "decoder" else "first"


def last_token_states(hidden_states: Sequence[torch.Tensor], attention_mask: torch.Tensor) -> torch.Tensor:
    """Each row's state at its last real token (the last position where ``attention_mask`` is 1), per layer:
    (layers, batch, hidden) in float32. Right or left padding alike."""
    import torch

    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    last = (positions * attention_mask.to(torch.bool)).argmax(dim=1)
    rows = torch.arange(attention_mask.shape[0], device=attention_mask.device)
    return torch.stack([layer[rows, last.to(layer.device)].to(torch.float32) for layer in hidden_states])


def _pool(hidden_states, attention_mask, special_tokens_mask, cls: bool, token: str = "first") -> torch.Tensor:
    import torch

    if cls and token == "last":
        return last_token_states(hidden_states, attention_mask)
    if cls:
        return torch.stack([layer[:, 0].to(torch.float32) for layer in hidden_states])
    return mean_pool_hidden_states(hidden_states, attention_mask, special_tokens_mask)


@contextmanager
def _eval_mode(model):
    """Eval mode (no dropout) for the duration, then the module's previous mode again."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _device(model):
    return next(model.parameters()).device


def embed_sentences(
    model,
    tokenizer,
    sentences: Sequence[str],
    batch_size: int = 64,
    max_length: int = 128,
    include_special_tokens: bool = True,
    cls: bool = False,
) -> np.ndarray:
    """Sentence vectors at every hidden layer 0..L: float32 array (layers, len(sentences), hidden).

    One forward pass per batch yields every layer (``output_hidden_states``). Batches are cut from the
    sentences sorted by token count (longest first, so an out-of-memory error shows at once) and padded only
    to their own longest sentence; rows come back in the input order. Vector = mean over the sentence's
    tokens ([CLS] / [SEP] counted unless ``include_special_tokens=False``) or, with ``cls=True``, the family's
    sentence token (:func:`sentence_token`; SVCCA's input): the state at position 0 ([CLS]) for encoders, at the
    last non-pad token for decoder-only models. ``model`` is any transformers encoder or decoder, or a task
    model around one.
    """
    import torch

    if batch_size < 1 or max_length < 2:
        raise ValueError(f"batch_size must be >= 1 and max_length >= 2, got {batch_size} and {max_length}")
    sentences = list(sentences)
    if not sentences:
        raise ValueError("no sentences to embed")
    if tokenizer.pad_token_id is None:
        raise ValueError("the tokenizer has no padding token")
    keys = _model_inputs(tokenizer)
    encoded = tokenizer(sentences, truncation=True, max_length=max_length, return_special_tokens_mask=True)
    encodings = [{key: encoded[key][i] for key in keys + ["special_tokens_mask"]} for i in range(len(sentences))]
    order = sorted(range(len(sentences)), key=lambda i: (-len(encodings[i]["input_ids"]), i))

    encoder = _encoder(model)
    device = _device(encoder)
    token = sentence_token(encoder)
    result: np.ndarray | None = None
    with _eval_mode(encoder), torch.inference_mode():
        for start in range(0, len(order), batch_size):
            indices = order[start : start + batch_size]
            batch = _pad_batch([encodings[i] for i in indices], tokenizer.pad_token_id, keys)
            special = batch.pop("special_tokens_mask").to(device)
            batch = {key: value.to(device) for key, value in batch.items()}
            hidden_states = encoder(**batch, output_hidden_states=True).hidden_states
            pooled = _pool(
                hidden_states, batch["attention_mask"], None if include_special_tokens else special, cls, token
            )
            if result is None:
                result = np.empty((pooled.shape[0], len(sentences), pooled.shape[2]), dtype=np.float32)
            result[:, indices] = pooled.cpu().numpy()
    return result


def embed_sentences_one_by_one(
    model, tokenizer, sentences: Sequence[str], max_length: int = 512, cls: bool = False
) -> np.ndarray:
    """The original code's encoding, kept ONLY as the baseline of the benchmark and equivalence tests.

    One sentence per forward pass, padded to ``max_length`` (512) tokens, mean over the attention mask
    (special tokens included) or the [CLS] state. Same output as :func:`embed_sentences` with
    ``include_special_tokens=True`` (to float tolerance) at many times the cost; use that one instead.
    """
    import torch

    encoder = _encoder(model)
    device = _device(encoder)
    rows = []
    with _eval_mode(encoder), torch.inference_mode():
        for sentence in sentences:
            batch = tokenizer(
                sentence, padding="max_length", truncation=True, max_length=max_length, return_tensors="pt"
            )
            batch = {key: batch[key].to(device) for key in _model_inputs(tokenizer)}
            hidden_states = encoder(**batch, output_hidden_states=True).hidden_states
            rows.append(_pool(hidden_states, batch["attention_mask"], None, cls, sentence_token(encoder)).cpu().numpy())
    return np.concatenate(rows, axis=1)


# ---------------------------------------------------------------------------------------------- the encoder


def _is_pooler(name: str) -> bool:
    return name.split(".")[-3:-2] == ["pooler"]


def masked_encoder(model: torch.nn.Module, mask: Mapping[str, torch.Tensor]) -> torch.nn.Module:
    """Zero the weights ``mask`` prunes, in place, so ``model`` holds theta0 * mask; returns ``model``.

    ``mask`` is a ticket as saved by the pipeline, keyed by the TASK model's parameter names
    ("bert.encoder.layer.0.attention.self.query.weight"); ``model`` may be that task model or its bare encoder
    (a BertModel names the same weight "encoder.layer.0...."): names are matched with or without the
    model's ``base_model_prefix``. Every prunable weight of the model must be in the mask with its shape,
    else a ValueError names the first that does not fit. The pooler is the exception: it is matched when
    both have it and ignored otherwise, since it never feeds the hidden states (an MLM ticket has none; a
    BertModel may have one).
    """
    prefix = getattr(model, "base_model_prefix", "")

    def mask_name(model_name: str) -> str:
        # The name this model parameter has in the mask (or its own name, reported as missing if absent).
        candidates = [model_name, f"{prefix}.{model_name}"]
        if prefix and model_name.startswith(f"{prefix}."):
            candidates.append(model_name[len(prefix) + 1 :])
        return next((c for c in candidates if c in mask), model_name)

    prunable = masks.prunable_parameters(model, masks.infer_family(model))
    expected = {mask_name(name): tensor for name, tensor in prunable.items()}
    poolers = {name for name in set(expected) | set(mask) if _is_pooler(name)}
    unmatched_poolers = poolers - (set(expected) & set(mask))
    expected = {name: tensor for name, tensor in expected.items() if name not in unmatched_poolers}
    used = {name: m for name, m in mask.items() if name not in unmatched_poolers}
    masks.check_mask_fits(used, expected)
    masks.apply_mask_(expected, used)
    return model
