"""Unit tests of subnets.plots: every figure is written, non-empty, as PNG and PDF."""

from __future__ import annotations

import pandas as pd
import pytest

from subnets import analysis

pytest.importorskip("seaborn")
from subnets import plots


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
    table = analysis.overlap_table(records, task="ner", sparsity=50)
    paths = [tmp_path / "fig3.png", tmp_path / "fig3.pdf"]
    plots.plot_overlap(table, paths, language_order=["t0", "t1", "t2"])
    _check(paths)


def test_overlap_plot_of_an_encoder_decoder(tmp_path):
    layers = {f"{side}.{i}": 0.4 + i / 100 for side in ("encoder", "decoder") for i in range(12)} | {"all": 0.4}
    records = [
        ("cross_language", ("t0", 0), ("t1", 0), layers),
        ("same_language", ("t0", 0), ("t0", 1), layers),
    ]
    table = analysis.overlap_table(records, task="nli", sparsity=50)
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
