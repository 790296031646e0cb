"""Zero-shot probes of a sub-network, layer by layer: parallel sentence retrieval (Fig. 7) and SVCCA / PWCCA
between languages (Fig. 10). Each takes theta0's body with a mask applied (no fine-tuning) and returns a long
table, one row per (language or pair, layer).

The body is loaded with ``AutoModel`` from theta0's directory, so an MLM, NER or XNLI ticket probes the same
pre-trained encoder: only the mask differs (the task heads never feed the hidden states).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping, Sequence

import pandas as pd

from subnets.cca import UndefinedCorrelationError, pwcca, svcca
from subnets.retrieval import (
    UndefinedMarginError,
    check_topk,
    embed_sentences,
    margin_retrieval_accuracy,
    masked_encoder,
)


def load_masked_body(pretrained: str | os.PathLike, mask_path: str | os.PathLike | None = None):
    """(theta0's encoder with ``mask_path``'s ticket applied, or dense without one; its tokenizer)."""
    from transformers import AutoModel, AutoTokenizer

    from subnets.masks import load_mask

    model = AutoModel.from_pretrained(pretrained)
    if mask_path is not None:
        mask, _ = load_mask(mask_path)
        try:
            masked_encoder(model, mask)
        except ValueError as err:
            raise ValueError(f"mask file {mask_path}: {err}") from err
    return model.eval(), AutoTokenizer.from_pretrained(pretrained)


def retrieval_by_layer(
    model,
    tokenizer,
    pairs: Mapping[tuple[str, str], tuple[Sequence[str], Sequence[str]]],
    *,
    k: int = 5,
    topk: Sequence[int] = (1, 5),
    candidates: str = "knn",
    include_special_tokens: bool = True,
    batch_size: int = 64,
    max_length: int = 128,
) -> pd.DataFrame:
    """Margin retrieval accuracy@n per layer, both directions, for each ``(src, tgt) -> (sentences, sentences)``.

    ``k``, ``topk`` and ``candidates`` as in :func:`subnets.retrieval.margin_retrieval_accuracy` (default
    LASER's forward search with the authors' k = 5); an n in ``topk`` above k with ``candidates="knn"`` is
    refused before anything is encoded. Columns: src, tgt (the direction searched: src sentences look for
    their tgt translation), layer, topk, accuracy (percent; NaN at a layer where the ratio margin is
    undefined, with a message on stderr).
    """
    check_topk(topk, k, candidates)
    rows = []
    for (src, tgt), (src_sentences, tgt_sentences) in pairs.items():
        if len(src_sentences) != len(tgt_sentences):
            raise ValueError(f"{src}-{tgt}: {len(src_sentences)} and {len(tgt_sentences)} sentences are not aligned")
        options = {"batch_size": batch_size, "max_length": max_length, "include_special_tokens": include_special_tokens}
        vectors = {src: embed_sentences(model, tokenizer, src_sentences, **options),
                   tgt: embed_sentences(model, tokenizer, tgt_sentences, **options)}  # fmt: skip
        for a, b in ((src, tgt), (tgt, src)):
            for layer in range(vectors[a].shape[0]):
                try:
                    accuracies = margin_retrieval_accuracy(vectors[a][layer], vectors[b][layer], k, topk, candidates)
                except UndefinedMarginError as undefined:
                    # One layer without a margin must not sink the whole probe: its cells are NaN, and said.
                    print(f"retrieval {a} -> {b}, layer {layer}: {undefined}; recorded as NaN", file=sys.stderr)
                    accuracies = dict.fromkeys(topk, math.nan)
                for n, accuracy in accuracies.items():
                    rows.append({"src": a, "tgt": b, "layer": layer, "topk": n, "accuracy": accuracy})
    return pd.DataFrame(rows, columns=["src", "tgt", "layer", "topk", "accuracy"])


def cca_by_layer(
    model,
    tokenizer,
    reference: tuple[str, Sequence[str]],
    others: Mapping[str, Sequence[str]],
    *,
    keep_variance: float = 0.99,
    batch_size: int = 64,
    max_length: int = 128,
) -> pd.DataFrame:
    """SVCCA and PWCCA between the sentence vectors of the reference language and of each other language, on
    parallel sentences, per layer: the [CLS] (first token) state for encoders, the last non-pad token's for
    decoder-only models (:func:`subnets.retrieval.sentence_token`). Columns: reference, language, layer, svcca,
    pwcca, n_sentences.

    Undefined is not zero: at a layer where either side's vectors are constant (layer 0's [CLS] vector is the
    same embedding for every sentence) both measures are NaN, with the reason on stderr.
    """
    ref_lang, ref_sentences = reference
    options = {"batch_size": batch_size, "max_length": max_length, "cls": True}
    ref_vectors = embed_sentences(model, tokenizer, ref_sentences, **options)
    rows = []
    for lang, sentences in others.items():
        if len(sentences) != len(ref_sentences):
            raise ValueError(
                f"{ref_lang}-{lang}: {len(ref_sentences)} and {len(sentences)} sentences are not parallel"
            )
        vectors = embed_sentences(model, tokenizer, sentences, **options)
        for layer in range(vectors.shape[0]):
            x, y = ref_vectors[layer], vectors[layer]
            values = _correlations_or_nan(x, y, keep_variance, f"cca {ref_lang}-{lang} layer {layer}", (ref_lang, lang))
            rows.append({"reference": ref_lang, "language": lang, "layer": layer, **values, "n_sentences": len(x)})
    return pd.DataFrame(rows, columns=["reference", "language", "layer", "svcca", "pwcca", "n_sentences"])


def _correlations_or_nan(x, y, keep_variance: float, where: str, names: tuple[str, str]) -> dict[str, float]:
    """{"svcca": ..., "pwcca": ...} of x and y, NaN where undefined, with one line on stderr saying why."""
    values, undefined = {}, []
    for column, measure in (("svcca", lambda: svcca(x, y, keep_variance)), ("pwcca", lambda: pwcca(x, y))):
        try:
            values[column] = measure()
        except UndefinedCorrelationError as err:
            values[column] = math.nan
            undefined.append(err)
    if undefined:
        constant = " and ".join(dict(zip("xy", names))[side] for side in undefined[0].constant)
        measures = " and ".join(err.measure for err in undefined)
        print(f"{where}: the [CLS] vectors of {constant} are constant (the same for every sentence, no variance): "
              f"{measures} undefined; recorded as NaN", file=sys.stderr)  # fmt: skip
    return values


def run_probe(kind: str, model, tokenizer, spec: Mapping) -> pd.DataFrame:
    """One probe from its config slice (``probes.<kind>`` with ``source`` a path pattern, plus batch_size and
    max_length): ``retrieval`` over the pairs of ``spec["pairs"]`` or ``cca`` of ``spec["languages"]`` against
    ``spec["reference"]``, each on the first ``spec["n"]`` parallel sentences (all when None)."""
    from subnets.data import load_parallel, load_parallel_premises

    n, options = spec["n"], {"batch_size": spec["batch_size"], "max_length": spec["max_length"]}
    if kind == "retrieval":
        pairs = {}
        for src, tgt in spec["pairs"]:
            sources, targets = load_parallel(spec["source"], src=src, tgt=tgt, split=spec["split"])
            pairs[(src, tgt)] = (sources[:n], targets[:n])
        return retrieval_by_layer(model, tokenizer, pairs, k=spec["k"], topk=spec["topk"],
                                  candidates=spec["candidates"], include_special_tokens=spec["include_special_tokens"],
                                  **options)  # fmt: skip
    if kind == "cca":

        def premises(lang):
            return load_parallel_premises(spec["source"], lang=lang, split=spec["split"])[:n]

        others = {lang: premises(lang) for lang in spec["languages"]}
        reference = (spec["reference"], premises(spec["reference"]))
        return cca_by_layer(model, tokenizer, reference, others, keep_variance=spec["keep_variance"], **options)
    raise ValueError(f"unknown probe {kind!r}: retrieval or cca")
