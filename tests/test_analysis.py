"""Unit tests of subnets.analysis: winning tickets, curves, transfer matrices, relative drop, overlap tables."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from subnets import analysis


def _record(task, lang, seed, sparsity, metric, higher=True, name="f1", **extra):
    return {
        "task": task,
        "language": lang,
        "seed": seed,
        "sparsity": sparsity,
        "metric_name": name,
        "higher_is_better": higher,
        "peak_metric": metric,
        "peak_step": 10,
        "total_steps": 20,
        **extra,
    }


def _runs(values: dict[tuple[str, int], list[float]], task="ner", higher=True, name="f1") -> pd.DataFrame:
    """values: (lang, sparsity) -> metric per seed."""
    records = [
        _record(task, lang, seed, s, metric, higher, name)
        for (lang, s), metrics in values.items()
        for seed, metric in enumerate(metrics)
    ]
    return analysis.runs_frame(records)


def test_runs_frame_reads_records_and_rejects_incomplete(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps(_record("ner", "en", 0, 10.0, 80.0)))
    frame = analysis.runs_frame(analysis.read_json([path]))
    assert list(frame.columns[:9]) == list(analysis.ROUND_COLUMNS)
    assert frame.loc[0, "sparsity"] == 10 and frame.loc[0, "metric"] == 80.0
    with pytest.raises(ValueError, match="lacks"):
        analysis.runs_frame([{"task": "ner"}])


def test_within_one_std_is_sign_aware():
    assert analysis.within_one_std(79.0, 80.0, 1.5, True)
    assert not analysis.within_one_std(78.0, 80.0, 1.5, True)
    assert analysis.within_one_std(3.6, 3.5, 0.2, False)  # perplexity a bit higher, within one std
    assert not analysis.within_one_std(3.8, 3.5, 0.2, False)
    assert analysis.within_one_std(3.0, 3.5, 0.2, False)  # lower perplexity is always fine
    assert analysis.within_one_std(80.0, 80.0, math.nan, True)  # single seed: std taken as 0
    assert not analysis.within_one_std(math.nan, 80.0, 1.0, True)


def test_winning_ticket_is_the_highest_qualifying_sparsity_with_random_baseline():
    runs = _runs({
        ("en", 0): [80.0, 82.0],  # mean 81, sample std sqrt(2)
        ("en", 10): [81.0, 81.0],
        ("en", 20): [79.5, 80.0],  # 79.75 >= 81 - 1.414
        ("en", 30): [70.0, 71.0],
        ("fr", 0): [70.0, 70.0],  # std 0: only means >= 70 qualify
        ("fr", 10): [69.9, 69.9],
    })  # fmt: skip
    random_runs = _runs({("en", 20): [60.0, 62.0], ("fr", 10): [50.0, 50.0]})
    tickets = analysis.winning_tickets(runs, random_runs, language_order=["fr", "en"])
    assert list(tickets["language"]) == ["fr", "en"]
    en = tickets.set_index("language").loc["en"]
    assert en["ticket_sparsity"] == 20 and en["ticket_mean"] == pytest.approx(79.75)
    assert en["dense_std"] == pytest.approx(math.sqrt(2))
    assert en["random_mean"] == pytest.approx(61.0)
    fr = tickets.set_index("language").loc["fr"]
    assert fr["ticket_sparsity"] == 0 and math.isnan(fr["random_mean"])  # no random run at 0


def test_winning_ticket_for_perplexity_allows_higher_values_within_std():
    runs = _runs(
        {("t0", 0): [3.4, 3.6], ("t0", 10): [3.6, 3.6], ("t0", 20): [3.9, 4.0]}, task="mlm", higher=False,
        name="perplexity",
    )  # fmt: skip
    tickets = analysis.winning_tickets(runs)
    assert tickets.loc[0, "ticket_sparsity"] == 10
    assert not tickets.loc[0, "higher_is_better"]


def test_sparsity_curve_has_one_row_per_level_and_dense_columns():
    runs = _runs({("en", s): [80.0 - s / 10, 81.0 - s / 10] for s in (0, 10, 20)})
    curve = analysis.sparsity_curve(runs)
    assert list(curve["sparsity"]) == [0, 10, 20]
    assert (curve["n_seeds"] == 2).all()
    assert curve["dense_mean"].nunique() == 1 and curve.loc[0, "dense_mean"] == pytest.approx(80.5)
    assert curve.loc[0, "winning"]
    assert analysis.sparsity_curve(runs.iloc[0:0]).empty


def test_mixed_directions_are_refused():
    runs = pd.concat([
        _runs({("en", 0): [1.0]}, higher=True),
        _runs({("en", 10): [1.0]}, higher=False),
    ])  # fmt: skip
    with pytest.raises(ValueError, match="mixed"):
        analysis.sparsity_curve(runs)


def test_relative_transfer_drop_matches_footnote_15():
    table = pd.DataFrame(
        [[80.0, 70.0, 60.0], [76.0, 70.0, 66.0], [72.0, 63.0, 60.0]],
        index=["a", "b", "c"],
        columns=["a", "b", "c"],
    )
    drop = analysis.relative_transfer_drop(table)
    assert isinstance(drop, pd.Series)
    assert drop["a"] == pytest.approx(np.mean([0.0, 0.0]))
    assert drop["b"] == pytest.approx(np.mean([(76 - 80) / 80, (66 - 60) / 60]))
    assert drop["c"] == pytest.approx(np.mean([(72 - 80) / 80, (63 - 70) / 70]))
    lower = analysis.relative_transfer_drop(table, higher_is_better=False)
    pd.testing.assert_series_equal(lower, -drop)


def test_relative_transfer_drop_skips_extra_rows_and_missing_cells():
    table = pd.DataFrame(
        [[1.0, 1.0], [2.0, np.nan], [1.0, 2.0], [0.5, 0.5]],
        index=["dense", "a", "b", "random"],
        columns=["a", "b"],
    )
    drop = analysis.relative_transfer_drop(table)
    assert list(drop.index) == ["a", "b"]
    assert math.isnan(drop["a"])  # a(a, b) missing
    assert drop["b"] == pytest.approx((1.0 - 2.0) / 2.0)


def test_transfer_matrix_and_success():
    records = []
    for seed in (0, 1):
        records += [
            _record("nli", "x", seed, 50, 80.0 + seed, source="x"),
            _record("nli", "y", seed, 50, 70.0 + seed, source="y"),
            _record("nli", "y", seed, 50, 70.0, source="x"),
            _record("nli", "x", seed, 50, 60.0, source="y"),
            _record("nli", "x", seed, 50, 50.0, source="random"),
        ]
    runs = analysis.runs_frame(records)
    dense = analysis.runs_frame([_record("nli", "x", 0, 0, 82.0), _record("nli", "y", 0, 0, 72.0)])
    matrix = analysis.transfer_matrix(runs, dense, language_order=["y", "x"])
    assert list(matrix.index) == ["dense", "y", "x", "random"]
    assert list(matrix.columns) == ["y", "x"]
    assert matrix.loc["x", "x"] == pytest.approx(80.5) and matrix.loc["x", "y"] == pytest.approx(70.0)
    assert matrix.loc["dense", "y"] == 72.0 and math.isnan(matrix.loc["random", "y"])
    success = analysis.transfer_success(runs[runs["source"] != "random"])
    assert success.loc["x", "y"]  # 70.0 >= 70.5 - 0.707
    assert not success.loc["y", "x"]


def test_overlap_pairs_and_expected_random_overlap():
    pairs = analysis.overlap_pairs(["a", "b", "c"], [0, 1])
    cross = [p for p in pairs if p[0] == "cross_language"]
    same = [p for p in pairs if p[0] == "same_language"]
    assert len(cross) == 3 * 2 and all(a[1] == b[1] for _, a, b in cross)
    assert len(same) == 3 and all(a[0] == b[0] and a[1] != b[1] for _, a, b in same)
    assert analysis.expected_random_overlap(50) == pytest.approx(1 / 3)
    assert analysis.expected_random_overlap(0) == pytest.approx(1.0)
    assert math.isnan(analysis.expected_random_overlap(100))


def test_overlap_table_averages_seeds_and_adds_random_rows():
    layers = lambda v: {"0": v, "1": v + 0.1, "all": v + 0.05}
    records = [
        ("cross_language", ("b", 0), ("a", 0), layers(0.4)),
        ("cross_language", ("b", 1), ("a", 1), layers(0.6)),
        ("same_language", ("a", 0), ("a", 1), layers(0.9)),
    ]
    table = analysis.overlap_table(records, task="ner", sparsity=50, language_order=["a", "b"])
    cross = table[table["kind"] == "cross_language"]
    assert set(zip(cross["lang_a"], cross["lang_b"])) == {("a", "b")}  # ordered by language order
    assert cross.set_index("layer").loc["0", "jaccard"] == pytest.approx(0.5)
    assert cross.set_index("layer").loc["0", "n"] == 2
    random = table[table["kind"] == "random"]
    assert list(random["layer"]) == ["0", "1", "all"]
    assert list(random["jaccard"]) == pytest.approx([1 / 3] * 3)
    assert table["jaccard"].between(0, 1).all()
    wide = analysis.overlap_wide(table)
    assert list(wide.columns) == ["0", "1", "all"]
    assert list(wide.index) == ["a-b", "a (seeds)", "random k/(2-k)"]


def test_to_markdown_and_write_table(tmp_path):
    frame = pd.DataFrame({"x": ["a", "b"], "v": [1.23456, math.nan], "ok": [True, False]})
    text = analysis.to_markdown(frame)
    lines = text.strip().splitlines()
    assert lines[0] == "| x | v | ok |" and lines[1] == "|---|---|---|"
    assert lines[2] == "| a | 1.235 | yes |" and lines[3] == "| b |  | no |"
    analysis.write_table(frame, tmp_path / "t.csv", tmp_path / "t.md", title="# T")
    assert pd.read_csv(tmp_path / "t.csv").shape == (2, 3)
    assert (tmp_path / "t.md").read_text().startswith("# T\n\n| x |")


def test_ordered_keeps_config_order_then_sorts_the_rest():
    assert analysis.ordered(["c", "a", "b", "a"], ["b", "a"]) == ["b", "a", "c"]
    assert analysis.ordered(["c", "a"], None) == ["a", "c"]


def test_table2_wide_has_the_paper_layout():
    runs = pd.concat([
        _runs({("en", 0): [80.0, 81.0], ("en", 10): [80.5, 80.5]}),
        _runs({("en", 0): [3.5, 3.6], ("fr", 0): [3.1, 3.2]}, task="mlm", higher=False, name="perplexity"),
    ])  # fmt: skip
    wide = analysis.table2_wide(analysis.winning_tickets(runs), language_order=["fr", "en"])
    assert list(wide.index) == ["fr", "en"]
    assert list(wide.columns[:4]) == ["mlm dense", "mlm f*", "mlm s (%)", "mlm rand"]
    assert wide.loc["en", "ner s (%)"] == 10 and pd.isna(wide.loc["fr", "ner f*"])
    assert "| fr |" in analysis.to_markdown(wide, index=True)
