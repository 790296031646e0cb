"""Cheaper ways to a ticket against IMP: per (task, language, method, sparsity) the trained mask's metric beside IMP's
ticket and the dense band (the winning-ticket test), the mask's agreement with IMP's ticket (Jaccard, all layers
and per layer) and what finding each cost from theta0; per (task, method) whether the method reaches the study's
conclusions as IMP does.

The summary's checks, each against IMP's on the same languages, sparsity and seeds:

- ``overlap_spearman``: Spearman's rank correlation between the method's cross-language overlap values (Jaccard of
  two languages' masks of the same seed, per layer, mean over seeds; every language pair x layer) and IMP's.
- ``transfer_spearman``: the same over the transfer matrix's off-diagonal entries a(source -> target), each
  language's mask trained on each other language (mean over seeds); NaN without transfer runs.
- ``order_matches``: for every language, the other languages ranked by their overlap with it (all layers) come
  in the same order for the method as for IMP: the sister above the distant language, as planted.
- ``bound_matches``: whether the same-language cross-seed overlap (the upper bound) lies above every
  cross-language overlap for the method exactly when it does for IMP; NaN with a single seed.
- ``reaches_conclusions``: every defined check holds (rank correlations at least :data:`AGREEMENT`).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections import defaultdict
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from subnets import analysis, masks
from subnets.study.names import IMP, METHOD_OF_LANGUAGE

AGREEMENT = 0.5  # the least rank correlation with IMP that counts as reaching its conclusions


def _spearman(a: Sequence[float], b: Sequence[float]) -> float:
    from scipy.stats import spearmanr

    pairs = [(x, y) for x, y in zip(a, b) if not (math.isnan(x) or math.isnan(y))]
    if len(pairs) < 2:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant input: undefined, NaN
        return float(spearmanr([x for x, _ in pairs], [y for _, y in pairs]).statistic)


def _mean(values: Iterable[float]) -> float:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


def _flops(metadata: Mapping[str, Any]) -> float:
    cost = metadata.get("cost_from_theta0")
    return math.nan if cost is None else float(cost["flops"])


def load_masks(paths: Iterable[str]) -> tuple[dict[tuple, dict], dict[tuple, float]]:
    """Masks and their cost from theta0 (FLOPs) by (method, language, seed): IMP's tickets under "imp"."""
    found, flops = {}, {}
    for path in paths:
        mask, metadata = masks.load_mask(path)
        key = (metadata["method"], metadata["language"], int(metadata["seed"]))
        found[key], flops[key] = mask, _flops(metadata)
    return found, flops


def compare(
    inputs: Mapping[str, Sequence[str]],
    *,
    task: str,
    methods: Sequence[str],
    languages: Sequence[str],
    sparsity: int,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The rows, per-layer and summary tables of one task from the files of
    :meth:`subnets.study.Study.ticket_methods_inputs` (``masks``, ``tickets``, ``dense``, ``imp``, ``own``,
    ``transfer``)."""
    mask_of, flops_of = load_masks([*inputs["masks"], *inputs["tickets"]])
    seeds = sorted({seed for _, _, seed in mask_of})
    dense = analysis.runs_frame(analysis.read_json(inputs["dense"]))
    higher = analysis._direction(dense)
    imp_runs = analysis.runs_frame(analysis.read_json(inputs["imp"]))
    trained = analysis.runs_frame(analysis.read_json([*inputs["own"], *inputs["transfer"]]))

    def metric(frame, **where) -> float:
        selected = frame
        for key, value in where.items():
            selected = selected[selected[key] == value]
        return float(selected["metric"].mean()) if len(selected) else math.nan

    # a[method][(source language, target language)]: the diagonal is the language's own mask trained on it.
    a: dict[str, dict[tuple, float]] = defaultdict(dict)
    for lang in languages:
        a[IMP][(lang, lang)] = metric(imp_runs, language=lang)
        for method in methods:
            a[method][(lang, lang)] = metric(trained, language=lang, source=method)
        for src in languages:
            if src != lang:
                a[IMP][(src, lang)] = metric(trained, language=lang, source=src)
                for method in methods:
                    a[method][(src, lang)] = metric(trained, language=lang, source=f"{method}{METHOD_OF_LANGUAGE}{src}")

    rows, layer_rows, overlap = [], [], {}
    for method in [IMP, *methods]:
        for lang in languages:
            per_seed = [masks.jaccard_by_layer([mask_of[(method, lang, s)], mask_of[(IMP, lang, s)]]) for s in seeds]
            layers = list(per_seed[0])
            dense_values = dense[dense["language"] == lang]["metric"]
            dense_mean, dense_std = float(dense_values.mean()), analysis.sample_std(dense_values)
            value, imp_value = a[method][(lang, lang)], a[IMP][(lang, lang)]
            cost, imp_cost = (_mean(flops_of[(m, lang, s)] for s in seeds) for m in (method, IMP))
            rows.append(dict(
                task=task, language=lang, method=method, sparsity=sparsity, metric=value, imp_metric=imp_value,
                dense_mean=dense_mean, dense_std=dense_std,
                winning_ticket=analysis.within_one_std(value, dense_mean, dense_std, higher),
                imp_winning_ticket=analysis.within_one_std(imp_value, dense_mean, dense_std, higher),
                # the bar for a cheap method: no worse than IMP's own ticket by more than one dense std
                matches_imp=analysis.within_one_std(value, imp_value, dense_std, higher),
                jaccard_to_imp=_mean(j["all"] for j in per_seed), cost_flops=cost, imp_cost_flops=imp_cost,
                cost_ratio=imp_cost / cost if cost else math.nan,
            ))  # fmt: skip
            layer_rows += [dict(task=task, language=lang, method=method, sparsity=sparsity, layer=layer,
                                jaccard_to_imp=_mean(j[layer] for j in per_seed)) for layer in layers]  # fmt: skip
        # Cross-language overlap per (pair, layer), mean over seeds; the same-language bound across seeds.
        pairs = {}
        for x, y in itertools.combinations(languages, 2):
            per_seed = [masks.jaccard_by_layer([mask_of[(method, x, s)], mask_of[(method, y, s)]]) for s in seeds]
            pairs[(x, y)] = pairs[(y, x)] = {layer: _mean(j[layer] for j in per_seed) for layer in per_seed[0]}
        bound = [masks.jaccard_by_layer([mask_of[(method, lang, s)], mask_of[(method, lang, t)]])["all"]
                 for lang in languages for s, t in itertools.combinations(seeds, 2)]  # fmt: skip
        overlap[method] = (pairs, _mean(bound))
    return pd.DataFrame(rows), pd.DataFrame(layer_rows), _summary(task, methods, languages, a, overlap, pd.DataFrame(rows))


def _ranking(pairs: Mapping[tuple, Mapping[str, float]], languages: Sequence[str]) -> list[list[str]]:
    """Per language, the other languages from the most to the least overlapping (all layers)."""
    return [sorted((o for o in languages if o != lang), key=lambda o: (-pairs[(lang, o)]["all"], o)) for lang in languages]


def _summary(task, methods, languages, a, overlap, rows) -> pd.DataFrame:
    imp_pairs, imp_bound = overlap[IMP]
    keys = [(x, y, layer) for x, y in itertools.combinations(languages, 2) for layer in imp_pairs.get((x, y), {})
            if layer != "all"]  # fmt: skip
    entries = [(s, t) for s in languages for t in languages if s != t]
    imp_above = None if math.isnan(imp_bound) else imp_bound > max((v["all"] for v in imp_pairs.values()), default=0)
    summary = []
    for method in methods:
        pairs, bound = overlap[method]
        overlap_rho = _spearman([pairs[(x, y)][layer] for x, y, layer in keys],
                                [imp_pairs[(x, y)][layer] for x, y, layer in keys])  # fmt: skip
        transfer_rho = _spearman([a[method][e] for e in entries], [a[IMP][e] for e in entries])
        order = _ranking(pairs, languages) == _ranking(imp_pairs, languages)
        above = None if math.isnan(bound) else bound > max((v["all"] for v in pairs.values()), default=0)
        bound_matches = None if above is None or imp_above is None else above == imp_above
        mine = rows[rows["method"] == method]
        checks = [order, *(rho >= AGREEMENT for rho in (overlap_rho, transfer_rho) if not math.isnan(rho))]
        checks += [] if bound_matches is None else [bound_matches]
        summary.append(dict(
            task=task, method=method, languages=len(languages), overlap_points=len(keys),
            overlap_spearman=overlap_rho, transfer_points=sum(not math.isnan(a[method][e]) for e in entries),
            transfer_spearman=transfer_rho, order_matches=order, bound_matches=bound_matches,
            winning_tickets=int(mine["winning_ticket"].sum()), imp_winning_tickets=int(mine["imp_winning_ticket"].sum()),
            matches_imp=int(mine["matches_imp"].sum()),
            jaccard_to_imp=float(mine["jaccard_to_imp"].mean()), cost_ratio=float(mine["cost_ratio"].mean()),
            reaches_conclusions=all(checks),
        ))  # fmt: skip
    return pd.DataFrame(summary)


def write(inputs, outputs, *, task: str, methods, languages, sparsity: int) -> pd.DataFrame:
    """:func:`compare` for one task, written to ``outputs`` (csv, md, layers, summary, summary_md)."""
    rows, layers, summary = compare(inputs, task=task, methods=methods, languages=languages, sparsity=sparsity)
    analysis.write_table(rows, outputs["csv"], outputs["md"],
                         title=f"# {task}: masks of each method against IMP's ticket at {sparsity}% sparsity")  # fmt: skip
    analysis.write_table(layers, outputs["layers"])
    analysis.write_table(summary, outputs["summary"], outputs["summary_md"],
                         title=f"# {task}: does each method reach IMP's conclusions?")  # fmt: skip
    return rows


def join(tables: Sequence[str], csv_path: str, md_path: str, title: str) -> pd.DataFrame:
    """The per-task tables in one."""
    frame = pd.concat([pd.read_csv(path) for path in tables], ignore_index=True)
    analysis.write_table(frame, csv_path, md_path, title=title)
    return frame
