"""Overlap of masks per layer (Fig. 3), compared like with like, with its uncertainty.

Which pairs are compared (:func:`overlap_pairs`):

- ``same_language``: one language's tickets of two different seeds, the paper's upper bound;
- ``cross_language``: two languages' tickets of two DIFFERENT seeds, so that a cross-language pair differs from
  the bound by the language alone (both sides of each pair had their own head initialisation and data order);
- ``cross_language_same_seed``: two languages' tickets of the same seed (what the paper compared), reported apart:
  shared head initialisation and batch order make such pairs overlap more than the language alone explains;
- ``random``: the expectation k / (2 - k) of two independent random masks keeping a share k.

Each row of :func:`overlap_table` has the mean over the pair's seed pairs and a 95% t-interval over them
(``ci_low``, ``ci_high``; NaN when there is a single seed pair). Seed pairs that share a mask are not independent,
so the interval is indicative. :func:`bound_test` asks, per layer, whether cross-language overlap lies below the
same-language bound: a one-sided permutation test of the difference of means (exact when the splits are few);
its ``same_pi_low`` / ``same_pi_high`` are the 95% prediction interval of a language pair's mean over its seed
pairs were the two one language (:func:`t_prediction_interval`), the range the phantom's clone must fall in.
The Jaccard index and its random expectation are :func:`subnets.masks.jaccard_by_layer` and
:func:`subnets.masks.expected_random_jaccard`.
"""

from __future__ import annotations

import math
import os
import sys
from itertools import combinations
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from subnets.analysis import ordered, sample_std
from subnets.masks import expected_random_jaccard, jaccard_of_packed, load_mask, pack_by_layer

Key = tuple[str, int]  # (language, seed)
Record = tuple[str, Key, Key, Mapping[str, float]]
KINDS = ("cross_language", "cross_language_same_seed", "same_language", "random")
CONFIDENCE = 0.95
EXACT_SPLITS = 20000  # up to this many ways to split the values, the permutation test enumerates them all


def overlap_pairs(languages: Sequence[str], seeds: Sequence[int]) -> list[tuple[str, Key, Key]]:
    """The mask pairs of the overlap analysis: ``(kind, (lang_a, seed_a), (lang_b, seed_b))`` (kinds above)."""
    pairs = []
    for lang_a, lang_b in combinations(languages, 2):
        for seed_a in seeds:
            for seed_b in seeds:
                kind = "cross_language" if seed_a != seed_b else "cross_language_same_seed"
                pairs.append((kind, (lang_a, seed_a), (lang_b, seed_b)))
    for lang in languages:
        for seed_a, seed_b in combinations(seeds, 2):
            pairs.append(("same_language", (lang, seed_a), (lang, seed_b)))
    return pairs


def measure(paths: Mapping[Key, str | os.PathLike], languages: Sequence[str], seeds: Sequence[int]) -> list[Record]:
    """Jaccard per layer of every pair of :func:`overlap_pairs`, reading the masks ``paths[(lang, seed)]``.

    Works seed pair by seed pair, so that at most two seeds' masks are in memory at once, each packed once
    (:func:`subnets.masks.pack_by_layer`). Masks of different layouts are refused. Warns on stderr when
    the masks of one seed were found on different theta0s.
    """
    by_seeds: dict[tuple[int, int], list[tuple[str, Key, Key]]] = {}
    for kind, a, b in overlap_pairs(languages, seeds):
        by_seeds.setdefault(tuple(sorted((a[1], b[1]))), []).append((kind, a, b))
    records: list[Record] = []
    fingerprints: dict[int, set] = {}
    for seed_pair, pairs in by_seeds.items():
        loaded = {}
        for key in [(lang, seed) for seed in sorted(set(seed_pair)) for lang in languages]:
            mask, metadata = load_mask(paths[key])
            loaded[key] = pack_by_layer(mask)  # packed once, compared with every other mask of the seed pair
            fingerprints.setdefault(key[1], set()).add(metadata.get("theta0_fingerprint"))
        records += [(kind, a, b, jaccard_of_packed([loaded[a], loaded[b]])) for kind, a, b in pairs]
        del loaded
    for seed, found in fingerprints.items():
        if len(found) > 1:
            print(f"overlap: the seed {seed} masks come from different theta0s {sorted(map(str, found))}", file=sys.stderr)
    return records


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The two-sided t confidence interval of the mean of ``values``; (nan, nan) for fewer than two values. It is
    the prediction interval of the mean of infinitely many more draws."""
    return t_prediction_interval(values, new=math.inf, confidence=confidence)


def t_prediction_interval(values: Sequence[float], new: float = 1, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Where the mean of ``new`` more draws like ``values`` falls with probability ``confidence`` (normal
    model): mean +- t * s * sqrt(1/new + 1/n). Unlike the interval of the mean, it does not shrink to a point as
    the values grow in number, so it answers "is this value like those?"; (nan, nan) for fewer than two values."""
    from scipy import stats

    values = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if len(values) < 2 or new < 1:
        return math.nan, math.nan
    spread = values.std(ddof=1) * math.sqrt(1 / new + 1 / len(values))
    half = stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * spread
    return float(values.mean() - half), float(values.mean() + half)


def _raw(records: Iterable[Record]) -> tuple[pd.DataFrame, list[str]]:
    rows, layers = [], []
    for kind, (lang_a, seed_a), (lang_b, seed_b), by_layer in records:
        for layer, value in by_layer.items():
            if layer not in layers:
                layers.append(layer)
            rows.append({"kind": kind, "lang_a": lang_a, "lang_b": lang_b, "seed_a": seed_a, "seed_b": seed_b,
                         "layer": layer, "value": value})  # fmt: skip
    layers = [layer for layer in layers if layer != "all"] + (["all"] if "all" in layers else [])
    return pd.DataFrame(rows), layers


def overlap_table(
    records: Iterable[Record], *, task: str, sparsity: int, language_order: Sequence[str] | None = None
) -> pd.DataFrame:
    """Overlap per layer (Fig. 3) from ``(kind, (lang_a, seed_a), (lang_b, seed_b), jaccard_by_layer)``.

    One row per (kind, language pair, layer): the mean, std, count and 95% t-interval over the compared seed
    pairs; then the random expectation (kind ``random``) for every layer. Layers keep the order of
    ``jaccard_by_layer`` (model order, ``all`` last).
    """
    columns = ["task", "sparsity", "kind", "lang_a", "lang_b", "layer", "layer_index", "jaccard", "jaccard_std",
               "n", "ci_low", "ci_high"]  # fmt: skip
    raw, layers = _raw(records)
    if raw.empty:
        return pd.DataFrame(columns=columns)
    langs = ordered(list(raw["lang_a"]) + list(raw["lang_b"]), language_order)
    rank = {lang: i for i, lang in enumerate(langs)}
    out = []
    for (kind, lang_a, lang_b, layer), group in raw.groupby(["kind", "lang_a", "lang_b", "layer"], sort=False):
        if rank[lang_b] < rank[lang_a]:
            lang_a, lang_b = lang_b, lang_a
        low, high = t_interval(group["value"])
        out.append({"kind": kind, "lang_a": lang_a, "lang_b": lang_b, "layer": layer,
                    "jaccard": float(group["value"].mean()), "jaccard_std": sample_std(group["value"]),
                    "n": len(group), "ci_low": low, "ci_high": high})  # fmt: skip
    expected = expected_random_jaccard(1.0 - sparsity / 100.0)
    out += [{"kind": "random", "lang_a": "", "lang_b": "", "layer": layer, "jaccard": expected, "jaccard_std": 0.0,
             "n": 0, "ci_low": expected, "ci_high": expected} for layer in layers]  # fmt: skip
    table = pd.DataFrame(out)
    table.insert(0, "task", task)
    table.insert(1, "sparsity", int(sparsity))
    table["layer_index"] = table["layer"].map({layer: i for i, layer in enumerate(layers)})
    table = table.assign(
        _kind=table["kind"].map({kind: i for i, kind in enumerate(KINDS)}),
        _a=table["lang_a"].map(rank).fillna(-1),
        _b=table["lang_b"].map(rank).fillna(-1),
    ).sort_values(["_kind", "_a", "_b", "layer_index"], kind="stable")
    return table.drop(columns=["_kind", "_a", "_b"])[columns].reset_index(drop=True)


def permutation_p_value(below: Sequence[float], above: Sequence[float], n_permutations: int = 20000,
                        seed: int = 0) -> tuple[float, str]:  # fmt: skip
    """One-sided p-value of "mean(below) < mean(above)": the share of relabellings of the pooled values whose
    difference mean(above) - mean(below) is at least the observed one. Exact (every split) when there are at
    most :data:`EXACT_SPLITS` splits, else ``n_permutations`` seeded random ones ((1 + hits) / (1 + n)).
    Returns ``(p, method)``; (nan, reason) when a side is empty."""
    below, above = np.asarray(below, dtype=float), np.asarray(above, dtype=float)
    if len(below) == 0 or len(above) == 0:
        return math.nan, "undefined: a side has no values (one seed gives no same-language pair)"
    pooled, k = np.concatenate([below, above]), len(above)
    observed = above.mean() - below.mean()
    total = pooled.sum()

    def difference(above_sum):
        return above_sum / k - (total - above_sum) / len(below)

    if math.comb(len(pooled), k) <= EXACT_SPLITS:
        diffs = np.array([difference(pooled[list(chosen)].sum()) for chosen in combinations(range(len(pooled)), k)])
        return float(np.mean(diffs >= observed - 1e-12)), f"exact over {len(diffs)} splits"
    generator = np.random.default_rng(seed)
    hits = sum(difference(pooled[generator.permutation(len(pooled))[:k]].sum()) >= observed - 1e-12
               for _ in range(n_permutations))  # fmt: skip
    return (1 + hits) / (1 + n_permutations), f"{n_permutations} random permutations (seed {seed})"


def bound_test(records: Iterable[Record], *, task: str, sparsity: int) -> pd.DataFrame:
    """Per layer: is cross-language overlap (different seeds) below the same-language bound? The means and
    t-intervals of both sets of seed pairs, the difference (bound minus cross-language) and the one-sided
    permutation p-value. The same-seed cross-language mean is reported beside, for reference."""
    raw, layers = _raw(records)
    rows = []
    for layer in layers:
        here = raw[raw["layer"] == layer] if len(raw) else raw
        values = {kind: list(here[here["kind"] == kind]["value"]) if len(here) else [] for kind in KINDS[:3]}
        cross, bound = values["cross_language"], values["same_language"]
        p_value, method = permutation_p_value(cross, bound)
        cross_low, cross_high = t_interval(cross)
        bound_low, bound_high = t_interval(bound)
        # Where a language pair's mean over its seed pairs would fall if the two were one language: the test
        # of the phantom's clone (a single pair is judged against single pairs, not against their mean).
        crossed = here[here["kind"] == "cross_language"] if len(here) else here
        per_pair = int(crossed.groupby(["lang_a", "lang_b"]).size().max()) if len(crossed) else 1
        same_low, same_high = t_prediction_interval(bound, new=per_pair)
        mean = lambda v: float(np.mean(v)) if v else math.nan  # noqa: E731
        rows.append({"task": task, "sparsity": int(sparsity), "layer": layer, "cross_language": mean(cross),
                     "cross_ci_low": cross_low, "cross_ci_high": cross_high, "n_cross": len(cross),
                     "same_language": mean(bound), "bound_ci_low": bound_low, "bound_ci_high": bound_high,
                     "n_bound": len(bound), "same_pi_low": same_low, "same_pi_high": same_high,
                     "difference": mean(bound) - mean(cross), "p_value": p_value,
                     "method": method, "cross_language_same_seed": mean(values["cross_language_same_seed"])})  # fmt: skip
    return pd.DataFrame(rows)


def overlap_wide(table: pd.DataFrame) -> pd.DataFrame:
    """Overlap table as rows = pair ("a-b" across seeds, "a-b (same seed)", "a (seeds)" for the upper bound,
    "random"), columns = layers."""
    if table.empty:
        return pd.DataFrame()
    labels = {"cross_language": "{a}-{b}", "cross_language_same_seed": "{a}-{b} (same seed)",
              "same_language": "{a} (seeds)", "random": "random k/(2-k)"}  # fmt: skip
    labelled = table.assign(pair=[labels[k].format(a=a, b=b) for k, a, b in
                                  zip(table["kind"], table["lang_a"], table["lang_b"])])  # fmt: skip
    layers = list(dict.fromkeys(table.sort_values("layer_index", kind="stable")["layer"]))
    pairs = list(dict.fromkeys(labelled["pair"]))
    wide = labelled.pivot(index="pair", columns="layer", values="jaccard")
    return wide.loc[pairs, layers]
