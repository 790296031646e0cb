"""Overlap of masks per layer (Fig. 3): which mask pairs are compared, loading them a few at a time, and the
tables. The Jaccard index itself and its random expectation are :func:`subnets.masks.jaccard_by_layer` and
:func:`subnets.masks.expected_random_jaccard`."""

from __future__ import annotations

import os
import sys
from itertools import combinations
from typing import Iterable, Mapping, Sequence

import pandas as pd

from subnets.analysis import ordered, sample_std
from subnets.masks import expected_random_jaccard, jaccard_by_layer, load_mask

Key = tuple[str, int]  # (language, seed)
Record = tuple[str, Key, Key, Mapping[str, float]]

def overlap_pairs(
    languages: Sequence[str], seeds: Sequence[int]
) -> list[tuple[str, tuple[str, int], tuple[str, int]]]:
    """The mask pairs of the overlap analysis: ``(kind, (lang_a, seed_a), (lang_b, seed_b))``.

    ``cross_language``: every pair of different languages, compared seed by seed (same seed on both sides);
    ``same_language``: every pair of seeds of one language (the paper's upper bound).
    """
    pairs = []
    for lang_a, lang_b in combinations(languages, 2):
        for seed in seeds:
            pairs.append(("cross_language", (lang_a, seed), (lang_b, seed)))
    for lang in languages:
        for seed_a, seed_b in combinations(seeds, 2):
            pairs.append(("same_language", (lang, seed_a), (lang, seed_b)))
    return pairs


def overlap_table(
    records: Iterable[tuple[str, tuple[str, int], tuple[str, int], Mapping[str, float]]],
    *,
    task: str,
    sparsity: int,
    language_order: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Overlap per layer (Fig. 3) from ``(kind, (lang_a, seed_a), (lang_b, seed_b), jaccard_by_layer)``.

    One row per (kind, language pair, layer) with the mean and std over the compared seed pairs, then the
    random expectation (kind ``random``) for every layer. Layers keep the order of ``jaccard_by_layer`` (model
    order, ``all`` last).
    """
    rows, layers = [], []
    for kind, (lang_a, _), (lang_b, _), by_layer in records:
        for layer, value in by_layer.items():
            if layer not in layers:
                layers.append(layer)
            rows.append({"kind": kind, "lang_a": lang_a, "lang_b": lang_b, "layer": layer, "value": value})
    columns = ["task", "sparsity", "kind", "lang_a", "lang_b", "layer", "layer_index", "jaccard", "jaccard_std", "n"]
    if not rows:
        return pd.DataFrame(columns=columns)
    layers = [layer for layer in layers if layer != "all"] + (["all"] if "all" in layers else [])
    langs = ordered([r["lang_a"] for r in rows] + [r["lang_b"] for r in rows], language_order)
    rank = {lang: i for i, lang in enumerate(langs)}
    raw = pd.DataFrame(rows)
    out = []
    for (kind, lang_a, lang_b, layer), group in raw.groupby(["kind", "lang_a", "lang_b", "layer"], sort=False):
        if rank[lang_b] < rank[lang_a]:
            lang_a, lang_b = lang_b, lang_a
        out.append({
            "kind": kind, "lang_a": lang_a, "lang_b": lang_b, "layer": layer,
            "jaccard": float(group["value"].mean()), "jaccard_std": sample_std(group["value"]), "n": len(group),
        })  # fmt: skip
    expected = expected_random_jaccard(1.0 - sparsity / 100.0)
    for layer in layers:
        out.append({
            "kind": "random", "lang_a": "", "lang_b": "", "layer": layer,
            "jaccard": expected, "jaccard_std": 0.0, "n": 0,
        })  # fmt: skip
    table = pd.DataFrame(out)
    table.insert(0, "task", task)
    table.insert(1, "sparsity", int(sparsity))
    table["layer_index"] = table["layer"].map({layer: i for i, layer in enumerate(layers)})
    kinds = {"cross_language": 0, "same_language": 1, "random": 2}
    table = table.assign(
        _kind=table["kind"].map(kinds),
        _a=table["lang_a"].map(rank).fillna(-1),
        _b=table["lang_b"].map(rank).fillna(-1),
    ).sort_values(["_kind", "_a", "_b", "layer_index"], kind="stable")
    return table.drop(columns=["_kind", "_a", "_b"])[columns].reset_index(drop=True)


def overlap_wide(table: pd.DataFrame) -> pd.DataFrame:
    """Overlap table as rows = pair ("a-b", "a (seeds)" for the upper bound, "random"), columns = layers."""
    if table.empty:
        return pd.DataFrame()

    def label(row):
        if row["kind"] == "cross_language":
            return f"{row['lang_a']}-{row['lang_b']}"
        if row["kind"] == "same_language":
            return f"{row['lang_a']} (seeds)"
        return "random k/(2-k)"

    labelled = table.assign(pair=table.apply(label, axis=1))
    layers = list(dict.fromkeys(table.sort_values("layer_index", kind="stable")["layer"]))
    pairs = list(dict.fromkeys(labelled["pair"]))
    wide = labelled.pivot(index="pair", columns="layer", values="jaccard")
    return wide.loc[pairs, layers]


def measure(paths: Mapping[Key, str | os.PathLike], languages: Sequence[str], seeds: Sequence[int]) -> list[Record]:
    """Jaccard per layer of every pair of :func:`overlap_pairs`, reading the masks ``paths[(lang, seed)]``.

    Cross-language pairs seed by seed (one seed's masks in memory at a time), then the same-language pairs
    language by language: never more than one seed's or one language's masks at once. Warns on stderr when
    the masks were found on different theta0s of one seed.
    """
    pairs = overlap_pairs(languages, seeds)
    records: list[Record] = []
    fingerprints: dict[int, set] = {}

    def load(key: Key):
        mask, metadata = load_mask(paths[key])
        fingerprints.setdefault(key[1], set()).add(metadata.get("theta0_fingerprint"))
        return mask

    for seed in seeds:
        loaded = {lang: load((lang, seed)) for lang in languages}
        records += [(kind, a, b, jaccard_by_layer([loaded[a[0]], loaded[b[0]]]))
                    for kind, a, b in pairs if kind == "cross_language" and a[1] == seed]  # fmt: skip
    for lang in languages:
        loaded = {seed: load((lang, seed)) for seed in seeds}
        records += [(kind, a, b, jaccard_by_layer([loaded[a[1]], loaded[b[1]]]))
                    for kind, a, b in pairs if kind == "same_language" and a[0] == lang]  # fmt: skip
    for seed, found in fingerprints.items():
        if len(found) > 1:
            print(f"overlap: the seed {seed} masks come from different theta0s {sorted(map(str, found))}", file=sys.stderr)
    return records
