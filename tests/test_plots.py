"""Unit tests of subnets.plots: every figure is written, non-empty, as PNG and PDF."""

from __future__ import annotations

import pandas as pd
import pytest

from subnets import analysis

pytest.importorskip("seaborn")
from subnets import plots

from subnets.overlap import bound_test as overlap_bound_test
from subnets.overlap import overlap_table


def _curve():
    records = [
        {
            "task": "ner",
            "language": lang,
            "seed": seed,
            "sparsity": s,
            "metric_name": "f1",
            "higher_is_better": True,
            "peak_metric": 80.0 - s / 10 + seed + i,
        }
        for i, lang in enumerate(["t0", "t1", "t2"])
        for seed in (0, 1)
        for s in (0, 10, 20)
    ]
    return analysis.sparsity_curve(analysis.runs_frame(records))


def _check(paths):
    for path in paths:
        assert path.is_file() and path.stat().st_size > 1000
    assert paths[0].read_bytes()[:4] == b"\x89PNG"
    assert paths[1].read_bytes()[:4] == b"%PDF"


def test_sparsity_curves(tmp_path):
    paths = [tmp_path / "fig2.png", tmp_path / "fig2.pdf"]
    plots.plot_sparsity_curves(_curve(), paths, language_order=["t2", "t0", "t1"], title="ner")
    _check(paths)


def test_overlap_plot(tmp_path):
    layers = {"0": 0.4, "1": 0.5, "pooler": 0.45, "all": 0.45}
    records = [
        ("cross_language", ("t0", 0), ("t1", 0), layers),
        ("cross_language", ("t0", 0), ("t2", 0), layers),
        ("same_language", ("t0", 0), ("t0", 1), {k: v + 0.4 for k, v in layers.items()}),
    ]
    table = overlap_table(records, task="ner", sparsity=50)
    paths = [tmp_path / "fig3.png", tmp_path / "fig3.pdf"]
    plots.plot_overlap(table, paths, language_order=["t0", "t1", "t2"])
    _check(paths)


def test_overlap_plot_draws_bands_for_the_cross_language_mean_and_the_bound(tmp_path, monkeypatch):
    layers = lambda v: {"0": v, "1": v + 0.05, "all": v}  # noqa: E731
    records = [
        ("cross_language", ("t0", 0), ("t1", 1), layers(0.40)),
        ("cross_language", ("t0", 1), ("t1", 0), layers(0.50)),
        ("same_language", ("t0", 0), ("t0", 1), layers(0.80)),
        ("same_language", ("t1", 0), ("t1", 1), layers(0.70)),
    ]
    table = overlap_table(records, task="ner", sparsity=50)
    bound = overlap_bound_test(records, task="ner", sparsity=50)
    drawn = []
    monkeypatch.setattr(plots, "_finish", lambda fig, paths: drawn.append(fig))
    plots.plot_overlap(table, [tmp_path / "fig3.png"], bound=bound)
    (ax,) = drawn[0].axes
    bands = [c for c in ax.collections if type(c).__name__ in ("PolyCollection", "FillBetweenPolyCollection")]
    assert len(bands) == 2  # the mean of the cross-language pairs and the same-language bound; no pair's own
    labels = [line.get_label() for line in ax.lines]
    assert {"t0-t1", "cross-language (mean)", "same language (seeds)"} <= set(labels)
    mean = next(line for line in ax.lines if line.get_label() == "cross-language (mean)")
    assert list(mean.get_ydata()) == pytest.approx([0.45, 0.50])  # over the two seed pairs, layers 0 and 1


def test_overlap_plot_of_an_encoder_decoder(tmp_path):
    layers = {f"{side}.{i}": 0.4 + i / 100 for side in ("encoder", "decoder") for i in range(12)} | {"all": 0.4}
    records = [
        ("cross_language", ("t0", 0), ("t1", 0), layers),
        ("same_language", ("t0", 0), ("t0", 1), layers),
    ]
    table = overlap_table(records, task="nli", sparsity=50)
    paths = [tmp_path / "fig8.png", tmp_path / "fig8.pdf"]
    plots.plot_overlap(table, paths)
    _check(paths)
    assert [plots._short_layer(x) for x in ("encoder.11", "decoder.0", "3", "pooler")] == ["e11", "d0", "3", "pooler"]


def test_transfer_heatmap_and_relative_drop(tmp_path):
    matrix = pd.DataFrame(
        [[82.0, 72.0], [80.0, 69.0], [78.0, 70.0], [60.0, 55.0]],
        index=["dense", "x", "y", "random"],
        columns=["x", "y"],
    )
    paths = [tmp_path / "fig4.png", tmp_path / "fig4.pdf"]
    plots.plot_transfer_heatmap(matrix, paths, title="nli")
    _check(paths)
    drops = pd.DataFrame({
        "task": ["nli"] * 4, "sparsity": [50, 50, 80, 80], "source": ["x", "y", "x", "y"],
        "relative_transfer_drop": [-0.01, -0.02, -0.05, -0.04],
    })  # fmt: skip
    paths = [tmp_path / "fig6.png", tmp_path / "fig6.pdf"]
    plots.plot_relative_drop(drops, paths, language_order=["y", "x"])
    _check(paths)


def _retrieval_table(layers, nan_layers=()):
    rows = [
        {"subnetwork": name, "src": a, "tgt": b, "layer": layer, "topk": n,
         "accuracy": float("nan") if layer in nan_layers else 40.0 + 10 * layer + n + i}
        for i, name in enumerate(["dense", "nli/t0/seed0-sparsity50", "nli/t1/seed0-sparsity50"])
        for a, b in (("t0", "t1"), ("t1", "t0"))
        for layer in layers
        for n in (1, 2)
    ]  # fmt: skip
    return analysis.probe_frame([pd.DataFrame(rows)])


def _cca_table(layers, nan_layers=()):
    rows = [
        {"subnetwork": name, "reference": "t0", "language": lang, "layer": layer, "n_sentences": 20,
         "svcca": float("nan") if layer in nan_layers else 0.3 + 0.1 * layer,
         "pwcca": float("nan") if layer in nan_layers else 0.2 + 0.1 * layer}
        for name in ("dense", "nli/t0/seed0-sparsity50")
        for lang in ("t1", "t2")
        for layer in layers
    ]  # fmt: skip
    return analysis.probe_frame([pd.DataFrame(rows)])


def _drawn_figures(monkeypatch):
    """Every figure the plot functions finish, kept for inspection (they are still written and closed)."""
    figures, finish = [], plots._finish

    def keep(fig, paths, rect=(0, 0, 1, 1)):
        figures.append(fig)
        finish(fig, paths, rect)

    monkeypatch.setattr(plots, "_finish", keep)
    return figures


def _x_tick_labels(ax):
    low, high = ax.get_xlim()
    return [label.get_text() for label in ax.get_xticklabels() if low <= label.get_position()[0] <= high]


@pytest.mark.parametrize("layers, nan_layers", [(range(1, 4), ()), (range(0, 4), (0,)), (range(0, 13), (0,)),
                                                (range(1, 3), ())])
def test_per_layer_figures_have_whole_layer_ticks_and_gaps_for_nan(tmp_path, monkeypatch, layers, nan_layers):
    figures = _drawn_figures(monkeypatch)
    paths = [tmp_path / "fig7.png", tmp_path / "fig7.pdf"]
    plots.plot_retrieval(_retrieval_table(layers, nan_layers), paths, task_order=["nli"], language_order=["t0", "t1"])
    _check(paths)
    paths = [tmp_path / "fig10.png", tmp_path / "fig10.pdf"]
    plots.plot_cca(_cca_table(layers, nan_layers), paths, language_order=["t0", "t1", "t2"])
    _check(paths)
    assert len(figures) == 2
    for fig in figures:
        axes = [ax for ax in fig.axes if ax.get_lines()]
        assert axes
        for ax in axes:
            labels = _x_tick_labels(ax)
            assert labels == [str(layer) for layer in layers]  # every layer, as a whole number, none between
            for line in ax.get_lines():
                x, y = line.get_xdata(), line.get_ydata()
                if len(x) > 1:  # the data lines (not the legend's); NaN stays NaN: a gap, never a 0
                    assert list(x) == list(layers)
                    assert [layer for layer, value in zip(x, y) if value != value] == list(nan_layers)


def test_many_layers_get_integer_ticks_only(tmp_path, monkeypatch):
    figures = _drawn_figures(monkeypatch)
    layers = range(1, 25)
    plots.plot_cca(_cca_table(layers), [tmp_path / "fig10.png", tmp_path / "fig10.pdf"])
    for ax in figures[0].axes:
        labels = _x_tick_labels(ax)
        assert len(labels) >= 3 and all(label.lstrip("−-").isdigit() for label in labels), labels
