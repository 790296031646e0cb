"""Aggregates of a study: IMP curves, winning tickets, transfer matrices, relative drops, overlap tables.

Pure pandas / numpy (no torch): every function takes records or tables that the workflow's small jobs read from
the metrics files, so these jobs start fast and the logic is unit-tested without a model.

Conventions. Sparsities are integer percents (0, 10, ..., 90). A metric is on the task's scale (perplexity,
F1 or accuracy in percent); ``higher_is_better`` says which direction is better (False for perplexity). The
spread over seeds is the SAMPLE standard deviation (ddof=1); with a single seed it is taken as 0.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from subnets.study.names import DENSE, RANDOM, parse_ticket_name


ROUND_COLUMNS = (
    "task",
    "language",
    "seed",
    "sparsity",
    "metric_name",
    "higher_is_better",
    "metric",
    "peak_step",
    "total_steps",
)


# ------------------------------------------------------------------------------------------------ records


def read_json(paths: Iterable[str | os.PathLike]) -> list[dict[str, Any]]:
    """The JSON objects of ``paths``, in order."""
    records = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            records.append(json.load(handle))
    return records


def runs_frame(records: Iterable[Mapping[str, Any]], **extra: Any) -> pd.DataFrame:
    """One row per training run from metrics records (as the imp_round / train_subnetwork jobs write them).

    A record needs task, language, seed, sparsity, metric_name, higher_is_better and peak_metric; ``extra``
    adds constant columns (e.g. ``source="en"``) unless a record carries them itself.
    """
    rows = []
    for record in records:
        missing = [k for k in ("task", "language", "seed", "sparsity", "metric_name", "peak_metric") if k not in record]
        if missing:
            raise ValueError(f"metrics record lacks {missing}: {sorted(record)}")
        row = {
            "task": record["task"],
            "language": record["language"],
            "seed": int(record["seed"]),
            "sparsity": round(float(record["sparsity"])),
            "metric_name": record["metric_name"],
            "higher_is_better": bool(record.get("higher_is_better", True)),
            "metric": float(record["peak_metric"]),
            "peak_step": record.get("peak_step"),
            "total_steps": record.get("total_steps"),
        }
        for key, value in extra.items():
            row[key] = record.get(key, value)
        for key in ("source",):
            if key in record and key not in row:
                row[key] = record[key]
        rows.append(row)
    columns = list(ROUND_COLUMNS) + [c for c in (rows[0] if rows else {}) if c not in ROUND_COLUMNS]
    return pd.DataFrame(rows, columns=columns)


def ordered(values: Iterable[str], order: Sequence[str] | None) -> list[str]:
    """``values`` (deduplicated) in the order of ``order``; values it lacks come after, sorted."""
    values = list(dict.fromkeys(values))
    order = list(order or [])
    return [v for v in order if v in values] + sorted(v for v in values if v not in order)


def sample_std(values: pd.Series) -> float:
    return float(values.std(ddof=1)) if len(values) > 1 else 0.0


def _direction(frame: pd.DataFrame) -> bool:
    directions = frame["higher_is_better"].unique()
    if len(directions) != 1:
        raise ValueError(f"mixed metric directions in one table: {list(directions)}")
    return bool(directions[0])


# ------------------------------------------------------------------------------------- winning tickets


def within_one_std(value: float, reference_mean: float, reference_std: float, higher_is_better: bool) -> bool:
    """The paper's criterion: ``value`` is no worse than ``reference_mean`` by more than one std."""
    if any(math.isnan(x) for x in (value, reference_mean)):
        return False
    std = 0.0 if math.isnan(reference_std) else reference_std
    if higher_is_better:
        return value >= reference_mean - std - 1e-12
    return value <= reference_mean + std + 1e-12


def sparsity_curve(runs: pd.DataFrame, language_order: Sequence[str] | None = None) -> pd.DataFrame:
    """Per task, language and sparsity: mean and sample std of the metric over seeds, and the seed count.

    Also the dense (sparsity 0) mean and std of the same task and language, and whether the level qualifies
    as a winning ticket (within one dense std; sign-aware).
    """
    columns = [
        "task", "language", "sparsity", "metric_name", "higher_is_better", "mean", "std", "n_seeds",
        "dense_mean", "dense_std", "winning",
    ]  # fmt: skip
    if runs.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for (task, language), group in runs.groupby(["task", "language"], sort=False):
        higher = _direction(group)
        dense = group[group["sparsity"] == 0]["metric"]
        dense_mean = float(dense.mean()) if len(dense) else math.nan
        dense_std = sample_std(dense) if len(dense) else math.nan
        for sparsity, level in sorted(group.groupby("sparsity"), key=lambda item: item[0]):
            mean = float(level["metric"].mean())
            rows.append({
                "task": task,
                "language": language,
                "sparsity": int(sparsity),
                "metric_name": level["metric_name"].iloc[0],
                "higher_is_better": higher,
                "mean": mean,
                "std": sample_std(level["metric"]),
                "n_seeds": int(level["seed"].nunique()),
                "dense_mean": dense_mean,
                "dense_std": dense_std,
                "winning": within_one_std(mean, dense_mean, dense_std, higher),
            })  # fmt: skip
    curve = pd.DataFrame(rows, columns=columns)
    return _sort(curve, language_order, ["sparsity"])


def _sort(frame: pd.DataFrame, language_order: Sequence[str] | None, then: list[str]) -> pd.DataFrame:
    if frame.empty:
        return frame.reset_index(drop=True)
    langs = ordered(frame["language"], language_order)
    key = frame["language"].map({lang: i for i, lang in enumerate(langs)})
    frame = frame.assign(_lang=key).sort_values(["task", "_lang", *then], kind="stable")
    return frame.drop(columns="_lang").reset_index(drop=True)


def winning_tickets(
    runs: pd.DataFrame, random_runs: pd.DataFrame | None = None, language_order: Sequence[str] | None = None
) -> pd.DataFrame:
    """Table 2: per task and language, the highest sparsity whose mean metric over seeds is within one
    sample std of the dense mean (sign-aware), its mean and std, and the random sub-network at that sparsity
    (mean over seeds; nan when it was not trained).

    Sparsity 0 always qualifies, so every (task, language) with a dense run gets a row.
    """
    columns = [
        "task", "language", "metric_name", "higher_is_better", "dense_mean", "dense_std", "ticket_sparsity",
        "ticket_mean", "ticket_std", "random_mean", "random_std", "n_seeds", "max_sparsity_trained",
    ]  # fmt: skip
    curve = sparsity_curve(runs, language_order)
    rows = []
    for (task, language), group in curve.groupby(["task", "language"], sort=False):
        winning = group[group["winning"]]
        if winning.empty:  # no dense run: nothing to compare with
            continue
        best = winning.loc[winning["sparsity"].idxmax()]
        random_mean = random_std = math.nan
        if random_runs is not None and not random_runs.empty:
            match = random_runs[
                (random_runs["task"] == task)
                & (random_runs["language"] == language)
                & (random_runs["sparsity"] == best["sparsity"])
            ]["metric"]
            if len(match):
                random_mean, random_std = float(match.mean()), sample_std(match)
        rows.append({
            "task": task,
            "language": language,
            "metric_name": best["metric_name"],
            "higher_is_better": bool(best["higher_is_better"]),
            "dense_mean": best["dense_mean"],
            "dense_std": best["dense_std"],
            "ticket_sparsity": int(best["sparsity"]),
            "ticket_mean": best["mean"],
            "ticket_std": best["std"],
            "random_mean": random_mean,
            "random_std": random_std,
            "n_seeds": int(best["n_seeds"]),
            "max_sparsity_trained": int(group["sparsity"].max()),
        })  # fmt: skip
    return _sort(pd.DataFrame(rows, columns=columns), language_order, [])


def table2_wide(tickets: pd.DataFrame, language_order: Sequence[str] | None = None) -> pd.DataFrame:
    """Table 2 in the paper's layout: one row per language; per task the dense mean, the winning ticket's
    mean (f*), its sparsity s (%) and the random sub-network at s. Missing (task, language) cells are nan."""
    if tickets.empty:
        return pd.DataFrame()
    langs = ordered(tickets["language"], language_order)
    columns = {}
    for task in dict.fromkeys(tickets["task"]):
        rows = tickets[tickets["task"] == task].set_index("language").reindex(langs)
        columns[f"{task} dense"] = rows["dense_mean"]
        columns[f"{task} f*"] = rows["ticket_mean"]
        columns[f"{task} s (%)"] = rows["ticket_sparsity"].astype("Int64")
        columns[f"{task} rand"] = rows["random_mean"]
    return pd.DataFrame(columns, index=pd.Index(langs, name="language"))


# ------------------------------------------------------------------------------------------------ transfer


def transfer_matrix(
    runs: pd.DataFrame,
    dense: pd.DataFrame | None = None,
    language_order: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Tables 3-5: rows = sub-network source (dense first, then languages, then random), columns = target.

    ``runs`` has one row per (source, target language, seed) with columns ``source``, ``language`` (the
    target) and ``metric``; the diagonal is the source's own ticket (source == language). ``dense`` holds
    the dense runs (sparsity 0) per target. Values are means over seeds; missing cells are nan.
    """
    targets = ordered(
        list(runs["language"]) + (list(dense["language"]) if dense is not None else []), language_order
    )
    sources = [s for s in ordered(runs["source"], language_order) if s != RANDOM]
    rows = ([DENSE] if dense is not None and not dense.empty else []) + sources
    rows += [RANDOM] if (runs["source"] == RANDOM).any() else []
    matrix = pd.DataFrame(np.nan, index=pd.Index(rows, name="source"), columns=pd.Index(targets, name="target"))
    means = runs.groupby(["source", "language"])["metric"].mean()
    for (source, target), value in means.items():
        matrix.loc[source, target] = value
    if dense is not None and not dense.empty:
        for target, value in dense.groupby("language")["metric"].mean().items():
            matrix.loc[DENSE, target] = value
    return matrix


def transfer_success(runs: pd.DataFrame) -> pd.DataFrame:
    """Whether a(s, t) is within one std (over seeds) of a(t, t): rows = source, columns = target (bool)."""
    higher = _direction(runs)
    own = runs[runs["source"] == runs["language"]].groupby("language")["metric"]
    own_mean, own_std = own.mean(), own.agg(sample_std)
    matrix = transfer_matrix(runs)
    result = pd.DataFrame(False, index=matrix.index, columns=matrix.columns)
    for source in matrix.index:
        for target in matrix.columns:
            if target in own_mean.index:
                result.loc[source, target] = within_one_std(
                    matrix.loc[source, target], own_mean[target], own_std[target], higher
                )
    return result


def relative_transfer_drop(table: pd.DataFrame, higher_is_better: bool = True) -> pd.Series:
    """Footnote 15: per source s, the mean over targets t != s of (a(s, t) - a(t, t)) / a(t, t).

    ``table``: index = source, columns = target, values a(source, target); a(t, t) is read from the row of
    t. The sign is flipped when lower is better (perplexity), so that a negative value is a loss in both
    cases. Targets without a(t, t) or a(s, t) are skipped; a source with no usable target gets nan. Rows
    that are not languages of the columns (the dense or random rows) are skipped.
    """
    sign = 1.0 if higher_is_better else -1.0
    result = {}
    for source in table.index:
        if source not in table.columns:
            continue
        drops = []
        for target in table.columns:
            if target == source or target not in table.index:
                continue
            own, transferred = table.loc[target, target], table.loc[source, target]
            if pd.isna(own) or pd.isna(transferred) or own == 0:
                continue
            drops.append(sign * (transferred - own) / own)
        result[source] = float(np.mean(drops)) if drops else math.nan
    return pd.Series(result, name="relative_transfer_drop", dtype=float).rename_axis("source")


def baselines_against_transfer(
    own: pd.DataFrame,
    transfer: pd.DataFrame,
    baselines: pd.DataFrame,
    language_order: Sequence[str] | None = None,
    baseline_order: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Footnote 9: per target language, the own ticket, transfer from the other languages, and baselines.

    ``own``: runs of each language's ticket on its own language; ``transfer``: runs with ``source`` a language
    other than the target; ``baselines``: runs whose ``source`` names the baseline (random, re-pruned ...).
    Rows: ``ticket`` (own), ``transfer mean`` and ``transfer worst`` over source languages (of the means over
    seeds), then the baselines in ``baseline_order``. Columns: targets. Values: means over seeds.
    """
    higher = _direction(pd.concat([own, transfer, baselines], ignore_index=True))
    targets = ordered(list(own["language"]) + list(transfer["language"]) + list(baselines["language"]), language_order)
    per_source = transfer.groupby(["language", "source"])["metric"].mean()
    rows: dict[str, pd.Series] = {"ticket": own.groupby("language")["metric"].mean()}
    by_target = per_source.groupby(level="language")
    rows["transfer mean"] = by_target.mean()
    rows["transfer worst"] = by_target.min() if higher else by_target.max()
    for name in ordered(baselines["source"], baseline_order):
        rows[name] = baselines[baselines["source"] == name].groupby("language")["metric"].mean()
    table = pd.DataFrame(rows).T.reindex(columns=targets)
    table.index.name, table.columns.name = "sub-network", "target"
    return table


def cross_task_table(runs: pd.DataFrame, task_order: Sequence[str], language_order: Sequence[str] | None = None):
    """Appendix C / Fig. 9: per (task trained, language, ticket's task) the mean and std over seeds.

    ``runs`` needs ``task`` (the task trained), ``ticket_task`` (the task whose ticket was used; equal to
    ``task`` for the task's own ticket), ``language`` and ``metric``. Also the drop against the own ticket, in
    the task's metric units (negative = worse, sign-aware).
    """
    grouped = runs.groupby(["task", "language", "ticket_task"], sort=False)["metric"]
    table = grouped.agg(mean="mean", std=sample_std, n="count").reset_index()
    higher = runs.groupby("task")["higher_is_better"].first()
    own = table[table["task"] == table["ticket_task"]].set_index(["task", "language"])["mean"]
    keys = list(zip(table["task"], table["language"]))
    sign = table["task"].map(lambda t: 1.0 if higher[t] else -1.0)
    table["drop_vs_own"] = sign * (table["mean"] - [own.get(k, math.nan) for k in keys]) + 0.0  # no -0
    table["higher_is_better"] = table["task"].map(higher)
    table["metric_name"] = table["task"].map(runs.groupby("task")["metric_name"].first())
    tasks = {t: i for i, t in enumerate(task_order)}
    langs = {lang: i for i, lang in enumerate(ordered(table["language"], language_order))}
    return (
        table.assign(_t=table["task"].map(tasks), _l=table["language"].map(langs), _s=table["ticket_task"].map(tasks))
        .sort_values(["_t", "_l", "_s"], kind="stable")
        .drop(columns=["_t", "_l", "_s"])
        .reset_index(drop=True)
    )


def multilingual_table(
    dense: pd.DataFrame,
    own: pd.DataFrame,
    transfer: pd.DataFrame,
    mixture: str,
    sources: Sequence[str],
    targets: Sequence[str],
) -> pd.DataFrame:
    """Table 1: rows dense, the target's own ticket (f*), each source language's ticket, the multilingual
    ticket ``mixture``; columns the targets; means over seeds (nan where a run is missing)."""
    rows = [DENSE, "own (f*)", *sources, mixture]
    table = pd.DataFrame(np.nan, index=pd.Index(rows, name="sub-network"), columns=pd.Index(list(targets), name="target"))
    for name, frame in ((DENSE, dense), ("own (f*)", own)):
        for target, value in frame.groupby("language")["metric"].mean().items():
            if target in table.columns:
                table.loc[name, target] = value
    for (source, target), value in transfer.groupby(["source", "language"])["metric"].mean().items():
        if source in table.index and target in table.columns:
            table.loc[source, target] = value
    for source in sources:  # a source language that is also a target: its own ticket
        if source in table.columns:
            table.loc[source, source] = table.loc["own (f*)", source]
    return table


# ------------------------------------------------------------------------------------------------- probes


def probe_frame(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Probe tables of several sub-networks in one, with ``task``, ``ticket_language`` and ``seed`` of the
    ``subnetwork`` name (:func:`subnets.study.names.ticket_name`; the dense rows get task "dense")."""
    table = pd.concat(list(frames), ignore_index=True)
    parsed = [(DENSE, math.nan, math.nan) if name == DENSE else parse_ticket_name(name)[:3]
              for name in table["subnetwork"]]  # fmt: skip
    for position, column in enumerate(("task", "ticket_language", "seed"), start=1):
        table.insert(position, column, [values[position - 1] for values in parsed])
    table["seed"] = pd.to_numeric(table["seed"])
    return table


def _summary_label(row) -> str:
    return DENSE if row["task"] == DENSE else f"{row['task']} {row['ticket_language']}"


def _layer_columns(wide: pd.DataFrame, data: pd.DataFrame) -> pd.DataFrame:
    """Every layer as a column "layer N", in the data's order; a layer undefined everywhere stays, blank."""
    wide = wide.reindex(columns=list(dict.fromkeys(data["layer"])))
    wide.columns = [f"layer {c}" for c in wide.columns]
    return wide


def retrieval_summary(table: pd.DataFrame, topk: int = 1) -> pd.DataFrame:
    """accuracy@``topk`` per layer (columns), one row per (direction, sub-network), mean over seeds."""
    data = table[table["topk"] == topk].assign(direction=lambda f: f["src"] + "->" + f["tgt"])
    data = data.assign(subnetwork=data.apply(_summary_label, axis=1))
    wide = data.pivot_table(index=["direction", "subnetwork"], columns="layer", values="accuracy", aggfunc="mean",
                            sort=False)  # fmt: skip
    return _layer_columns(wide, data)


def cca_summary(table: pd.DataFrame, measure: str = "svcca") -> pd.DataFrame:
    """``measure`` per layer (columns), one row per (sub-network, language)."""
    data = table.assign(subnetwork=table.apply(_summary_label, axis=1))
    wide = data.pivot_table(index=["subnetwork", "language"], columns="layer", values=measure, aggfunc="mean",
                            sort=False)  # fmt: skip
    return _layer_columns(wide, data)


# ------------------------------------------------------------------------------------------------- output


def _format(value: Any, floatfmt: str) -> str:
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else format(float(value), floatfmt)
    return str(value)


def to_markdown(frame: pd.DataFrame, floatfmt: str = ".4g", index: bool = False) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency); nan cells are left empty."""
    if index:
        frame = frame.reset_index()
    header = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_format(v, floatfmt) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_table(frame: pd.DataFrame, csv_path: str | os.PathLike, md_path: str | os.PathLike | None = None,
                *, index: bool = False, floatfmt: str = ".4g", title: str | None = None) -> None:
    """Write ``frame`` as CSV (and Markdown), each atomically."""
    from subnets.io import atomic_path

    with atomic_path(csv_path) as tmp:
        frame.to_csv(tmp, index=index)
    if md_path is not None:
        text = (f"{title}\n\n" if title else "") + to_markdown(frame, floatfmt=floatfmt, index=index)
        with atomic_path(md_path) as tmp:
            tmp.write_text(text, encoding="utf-8")
