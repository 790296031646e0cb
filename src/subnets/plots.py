"""Figures of a study (seaborn / matplotlib, Agg backend): each function takes the tables of
:mod:`subnets.analysis` and writes one figure to every path given (PNG, PDF, ...), atomically.

Languages appear in a fixed order (the config's), so colours and panels match across figures.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import pandas as pd

from subnets.analysis import ordered
from subnets.study.names import DENSE

METRIC_LABELS = {"perplexity": "perplexity (lower is better)", "f1": "F1 (%)", "accuracy": "accuracy (%)"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    return plt, sns


def _finish(fig, paths: Sequence[str | os.PathLike], rect: tuple[float, float, float, float] = (0, 0, 1, 1)) -> None:
    """Lay the figure out within ``rect``, write it to every path (format from the suffix), close it."""
    import matplotlib.pyplot as plt

    from subnets.io import atomic_path

    fig.tight_layout(rect=rect)
    for path in paths:
        suffix = os.path.splitext(str(path))[1].lstrip(".") or "png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=suffix, bbox_inches="tight", dpi=150)
    plt.close(fig)


def _finish_with_shared_legend(fig, paths: Sequence[str | os.PathLike], ncol: int) -> None:
    """One legend under all panels (every label of every panel, once), then save and close."""
    entries: dict[str, object] = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    labels = list(entries)
    handles = [entries[label] for label in labels]
    fig.legend(handles, labels, loc="lower center", ncol=max(1, min(len(labels), ncol)), bbox_to_anchor=(0.5, -0.02),
               frameon=False)  # fmt: skip
    _finish(fig, paths, rect=(0, 0.06, 1, 1))


# Up to this many layers every one gets a tick (BERT-base: 0..12); more get integer ticks chosen by matplotlib.
MAX_LAYER_TICKS = 16


def _layer_axis(ax, layers) -> None:
    """An x axis of whole layers: a tick at each layer (or integer ticks only), spanning every layer in the
    table even where the values are NaN (undefined: drawn as a gap), so a panel starting at layer 1 does not
    get ticks 1.0, 1.5, 2.0."""
    from matplotlib.ticker import MaxNLocator

    layers = sorted({int(layer) for layer in layers})
    if not layers:
        return
    if len(layers) <= MAX_LAYER_TICKS:
        ax.set_xticks(layers, [str(layer) for layer in layers])
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(layers[0] - 0.4, layers[-1] + 0.4)
    ax.set_xlabel("layer")


def _metric_label(name: str) -> str:
    return METRIC_LABELS.get(name, name)


def plot_sparsity_curves(
    curve: pd.DataFrame,
    paths: Sequence[str | os.PathLike],
    *,
    language_order: Sequence[str] | None = None,
    title: str | None = None,
) -> None:
    """Fig. 2: one panel per language, the metric (mean +- std over seeds) against sparsity, and the dense
    mean +- 1 std as a band. ``curve`` is :func:`subnets.analysis.sparsity_curve` of one task."""
    plt, sns = _pyplot()
    langs = ordered(curve["language"], language_order)
    ncols = min(len(langs), 4) or 1
    nrows = math.ceil(len(langs) / ncols) or 1
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), squeeze=False, sharex=True)
    palette = dict(zip(langs, sns.color_palette("tab10", n_colors=max(len(langs), 1))))
    metric_name = curve["metric_name"].iloc[0] if len(curve) else "metric"
    for ax, lang in zip(axes.flat, langs):
        data = curve[curve["language"] == lang].sort_values("sparsity")
        x, mean, std = data["sparsity"], data["mean"], data["std"].fillna(0)
        dense_mean, dense_std = data["dense_mean"].iloc[0], data["dense_std"].fillna(0).iloc[0]
        ax.axhspan(dense_mean - dense_std, dense_mean + dense_std, color="grey", alpha=0.25, label="dense ± 1 std")
        ax.axhline(dense_mean, color="grey", lw=1)
        ax.errorbar(x, mean, yerr=std, color=palette[lang], marker="o", ms=3, capsize=2, label="IMP sub-network")
        winning = data[data["winning"].astype(bool)]
        ax.scatter(winning["sparsity"], winning["mean"], s=30, facecolors="none", edgecolors="black", zorder=3,
                   label="winning ticket")
        ax.set_title(lang)
        ax.set_xlabel("sparsity (%)")
        ax.set_ylabel(_metric_label(metric_name))
    for ax in list(axes.flat)[len(langs):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    _finish_with_shared_legend(fig, paths, ncol=3)


def _short_layer(layer: str) -> str:
    section, _, index = layer.rpartition(".")
    return f"{section[0]}{index}" if section in ("encoder", "decoder") else layer


def plot_overlap(
    table: pd.DataFrame,
    paths: Sequence[str | os.PathLike],
    *,
    bound: pd.DataFrame | None = None,
    language_order: Sequence[str] | None = None,
    title: str | None = None,
) -> None:
    """Fig. 3: Jaccard overlap per layer, one line per language pair (tickets of different seeds), the mean over
    every cross-language pair and the same-language bound over seed pairs, each of those two with its 95%
    interval as a band (from ``bound``, the :func:`subnets.overlap.bound_test` table; else the bound is the mean
    of the per-language rows, without a band), and the random expectation. A single pair's interval is not drawn:
    over two seed pairs (t with one degree of freedom) it spans most of the axis. ``table`` is the
    :func:`subnets.overlap.overlap_table` of one task. The "all" column is left out."""
    plt, sns = _pyplot()
    data = table[table["layer"] != "all"].sort_values("layer_index")
    layers = list(dict.fromkeys(data["layer"]))
    position = {layer: i for i, layer in enumerate(layers)}
    fig, ax = plt.subplots(figsize=(max(4.5, 0.55 * len(layers) + 2), 3.6))
    cross = data[data["kind"] == "cross_language"]
    langs = ordered(list(cross["lang_a"]) + list(cross["lang_b"]), language_order)
    rank = {lang: i for i, lang in enumerate(langs)}
    pairs = sorted(set(zip(cross["lang_a"], cross["lang_b"])), key=lambda p: (rank[p[0]], rank[p[1]]))
    colours = sns.color_palette("husl", n_colors=max(len(pairs), 1))
    for colour, (a, b) in zip(colours, pairs):
        line = cross[(cross["lang_a"] == a) & (cross["lang_b"] == b)]
        x = line["layer"].map(position)
        ax.plot(x, line["jaccard"], marker="o", ms=3, lw=1, color=colour, label=f"{a}-{b}")
    if bound is not None and len(bound):
        here = bound.set_index("layer").reindex(layers)
        ax.plot(range(len(layers)), here["cross_language"], color="tab:blue", lw=2.2, alpha=0.8,
                label="cross-language (mean)")
        ax.fill_between(range(len(layers)), here["cross_ci_low"], here["cross_ci_high"], color="tab:blue", alpha=0.15,
                        lw=0)
        ax.plot(range(len(layers)), here["same_language"], color="black", ls="--", lw=1.5, label="same language (seeds)")
        ax.fill_between(range(len(layers)), here["bound_ci_low"], here["bound_ci_high"], color="black", alpha=0.12, lw=0)
    elif (data["kind"] == "same_language").any():
        upper = data[data["kind"] == "same_language"].groupby("layer")["jaccard"].mean().reindex(layers)
        ax.plot(range(len(layers)), upper.values, color="black", ls="--", lw=1.5, label="same language (seeds)")
    random = data[data["kind"] == "random"]
    if len(random):
        ax.plot(random["layer"].map(position), random["jaccard"], color="grey", ls=":", lw=1.5,
                label="random k/(2-k)")
    # Encoder-decoder layers ("encoder.3", "decoder.3") as "e3", "d3": 24 of them fit under the axis.
    ax.set_xticks(range(len(layers)), [_short_layer(layer) for layer in layers])
    ax.set_xlabel("layer (e: encoder, d: decoder)" if any("." in layer for layer in layers) else "layer")
    ax.set_ylabel("Jaccard overlap (95% interval)")
    ax.set_ylim(0, 1.02)
    sparsity = int(table["sparsity"].iloc[0]) if len(table) else None
    ax.set_title(title or (f"overlap at {sparsity}% sparsity" if sparsity is not None else "overlap"))
    ax.legend(fontsize="x-small", ncol=2 if len(pairs) > 8 else 1, bbox_to_anchor=(1.02, 1), loc="upper left")
    _finish(fig, paths)


def plot_transfer_heatmap(
    matrix: pd.DataFrame,
    paths: Sequence[str | os.PathLike],
    *,
    higher_is_better: bool = True,
    title: str | None = None,
) -> None:
    """Fig. 4: a(source, target) - a(target, target) for every source row of a transfer matrix (index =
    source, columns = target, the diagonal a(t, t) read from the row of t). Green is better, red worse."""
    plt, sns = _pyplot()
    diagonal = pd.Series({t: matrix.loc[t, t] for t in matrix.columns if t in matrix.index})
    difference = matrix[diagonal.index].sub(diagonal, axis=1)
    fig, ax = plt.subplots(figsize=(0.6 * len(difference.columns) + 2.5, 0.5 * len(difference.index) + 1.5))
    sns.heatmap(
        difference.astype(float), annot=True, fmt=".2f", center=0,
        cmap="RdYlGn" if higher_is_better else "RdYlGn_r", ax=ax, cbar_kws={"label": "a(s, t) - a(t, t)"},
    )  # fmt: skip
    ax.set_xlabel("target language")
    ax.set_ylabel("sub-network")
    if title:
        ax.set_title(title)
    _finish(fig, paths)


def plot_relative_drop(
    drops: pd.DataFrame,
    paths: Sequence[str | os.PathLike],
    *,
    language_order: Sequence[str] | None = None,
) -> None:
    """Fig. 6: bars of the relative transfer drop per source language, one panel per task, one bar colour per
    sparsity. ``drops`` has columns task, sparsity, source, relative_transfer_drop."""
    plt, sns = _pyplot()
    tasks = list(dict.fromkeys(drops["task"]))
    fig, axes = plt.subplots(1, max(len(tasks), 1), figsize=(4 * max(len(tasks), 1), 3.2), squeeze=False)
    for ax, task in zip(axes.flat, tasks):
        data = drops[drops["task"] == task].copy()
        data["relative drop (%)"] = 100 * data["relative_transfer_drop"]
        data["sparsity (%)"] = data["sparsity"].astype(str)
        sns.barplot(data=data, x="source", y="relative drop (%)", hue="sparsity (%)", ax=ax,
                    order=ordered(data["source"], language_order))
        ax.axhline(0, color="black", lw=0.8)
        ax.set_title(task)
        ax.set_xlabel("source language")
    _finish(fig, paths)


def plot_cross_task(
    table: pd.DataFrame,
    paths: Sequence[str | os.PathLike],
    *,
    task_order: Sequence[str],
    language_order: Sequence[str] | None = None,
) -> None:
    """Fig. 9: one panel per task trained; per language, a bar for the task's own ticket and for each other
    task's ticket of the same language, with the std over seeds. ``table`` is
    :func:`subnets.analysis.cross_task_table`."""
    plt, sns = _pyplot()
    tasks = [t for t in task_order if t in set(table["task"])]
    fig, axes = plt.subplots(1, max(len(tasks), 1), figsize=(3.6 * max(len(tasks), 1), 3.2), squeeze=False)
    palette = dict(zip(task_order, sns.color_palette("Set2", n_colors=max(len(task_order), 1))))
    for ax, task in zip(axes.flat, tasks):
        data = table[table["task"] == task]
        langs = ordered(data["language"], language_order)
        hues = [t for t in task_order if t in set(data["ticket_task"])]
        width = 0.8 / max(len(hues), 1)
        for i, ticket_task in enumerate(hues):
            bars = data[data["ticket_task"] == ticket_task].set_index("language").reindex(langs)
            x = [j + (i - (len(hues) - 1) / 2) * width for j in range(len(langs))]
            label = f"{ticket_task} ticket" + (" (own)" if ticket_task == task else "")
            ax.bar(x, bars["mean"], width, yerr=bars["std"].fillna(0), capsize=2, color=palette[ticket_task],
                   label=label)
        ax.set_xticks(range(len(langs)), langs)
        ax.set_xlabel("language")
        ax.set_ylabel(_metric_label(data["metric_name"].iloc[0]) if "metric_name" in data else "metric")
        ax.set_title(f"trained on {task}")
        ax.legend(fontsize="x-small")
        values = data["mean"].dropna()
        if len(values):  # bars start near the values: the differences are what the figure is about
            span = max(values.max() - values.min(), 1e-9)
            ax.set_ylim(max(0.0, values.min() - 1.5 * span), values.max() + 0.8 * span)
    _finish(fig, paths)


def plot_retrieval(
    table: pd.DataFrame,
    paths: Sequence[str | os.PathLike],
    *,
    task_order: Sequence[str],
    language_order: Sequence[str] | None = None,
    topk: int = 1,
) -> None:
    """Fig. 7: zero-shot retrieval accuracy@``topk`` per layer; one panel per (direction, task), one line per
    ticket language (mean over seeds), the dense model in black. ``table``: :func:`subnets.analysis.probe_frame`.
    A NaN accuracy (margin undefined at that layer) is a gap in the line, never a point at 0."""
    plt, sns = _pyplot()
    data = table[table["topk"] == topk].assign(direction=lambda f: f["src"] + " → " + f["tgt"])
    directions = list(dict.fromkeys(data["direction"]))
    tasks = [t for t in task_order if t in set(data["task"])]
    langs = ordered(data["ticket_language"].dropna(), language_order)
    palette = dict(zip(langs, sns.color_palette("tab10", n_colors=max(len(langs), 1))))
    fig, axes = plt.subplots(len(directions), max(len(tasks), 1), figsize=(3.4 * max(len(tasks), 1),
                             2.8 * len(directions)), squeeze=False, sharey=True)  # fmt: skip
    for row, direction in enumerate(directions):
        here = data[data["direction"] == direction]
        dense = here[here["task"] == DENSE].groupby("layer")["accuracy"].mean()
        for ax, task in zip(axes[row], tasks):
            for lang in langs:
                line = here[(here["task"] == task) & (here["ticket_language"] == lang)].groupby("layer")["accuracy"]
                if len(line):
                    ax.plot(line.mean().index, line.mean().values, marker="o", ms=3, color=palette[lang],
                            label=f"{lang} ticket")
            ax.plot(dense.index, dense.values, color="black", ls="--", lw=1.5, label=DENSE)
            ax.set_title(f"{task} tickets, {direction}")
            _layer_axis(ax, data["layer"])
            ax.set_ylabel(f"accuracy@{topk} (%)")
            ax.set_ylim(0, 102)
    _finish_with_shared_legend(fig, paths, ncol=6)


def plot_cca(
    table: pd.DataFrame,
    paths: Sequence[str | os.PathLike],
    *,
    language_order: Sequence[str] | None = None,
) -> None:
    """Fig. 10: SVCCA (left) and PWCCA (right) between the reference language and each other language, per
    layer; solid lines the dense model, dashed lines the probed tickets. ``table``: probe_frame of the CCA jobs.
    A NaN (undefined: constant [CLS] vectors, as at layer 0) is a gap in the line, never a point at 0."""
    plt, sns = _pyplot()
    langs = ordered(table["language"], language_order)
    palette = dict(zip(langs, sns.color_palette("tab10", n_colors=max(len(langs), 1))))
    reference = table["reference"].iloc[0] if len(table) else ""
    subnetworks = list(dict.fromkeys(table["subnetwork"]))
    styles = {s: ("-" if s == DENSE else "--") for s in subnetworks}
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, measure in zip(axes, ("svcca", "pwcca")):
        for subnetwork in subnetworks:
            for lang in langs:
                line = table[(table["subnetwork"] == subnetwork) & (table["language"] == lang)].sort_values("layer")
                if len(line):
                    label = f"{reference}-{lang}" + ("" if subnetwork == DENSE else f" ({subnetwork})")
                    ax.plot(line["layer"], line[measure], marker="o", ms=3, ls=styles[subnetwork],
                            color=palette[lang], label=label)
        ax.set_title(f"{measure.upper()} with {reference}")
        _layer_axis(ax, table["layer"])
        ax.set_ylabel(measure.upper())
        ax.set_ylim(0, 1.02)
    axes[1].legend(fontsize="x-small", bbox_to_anchor=(1.02, 1), loc="upper left")
    _finish(fig, paths)


def plot_ticket_methods(table: pd.DataFrame, paths: Sequence[str | os.PathLike]) -> None:
    """Cost against agreement with IMP, one panel per task: each method's mask (one point per language) at its
    cost from theta0 in FLOPs (log scale) and its Jaccard overlap with IMP's ticket; IMP's own tickets at 1."""
    plt, sns = _pyplot()
    tasks = list(dict.fromkeys(table["task"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.4), squeeze=False)
    methods = list(dict.fromkeys(table["method"]))
    palette = dict(zip(methods, sns.color_palette("colorblind", len(methods))))
    for ax, task in zip(axes[0], tasks):
        rows = table[table["task"] == task]
        for method in methods:
            mine = rows[rows["method"] == method]
            ax.scatter(mine["cost_flops"].clip(lower=1.0), mine["jaccard_to_imp"], label=method, color=palette[method],
                       marker="*" if method == "imp" else "o", s=80 if method == "imp" else 36, alpha=0.85)  # fmt: skip
        ax.set_xscale("log")
        ax.set_title(task)
        ax.set_xlabel("cost from theta0 (FLOPs)")
        ax.set_ylabel("Jaccard overlap with IMP's ticket")
        ax.set_ylim(0, 1.05)
    axes[0][-1].legend(loc="lower right", fontsize="small")
    _finish(fig, paths)
