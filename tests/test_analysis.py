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


def test_to_markdown_and_write_table(tmp_path):
    frame = pd.DataFrame({"x": ["a", "b"], "v": [1.23456, math.nan], "ok": [True, None]})
    text = analysis.to_markdown(frame)
    lines = text.strip().splitlines()
    assert lines[0] == "| x | v | ok |" and lines[1] == "|---|---|---|"
    assert lines[2] == "| a | 1.235 | yes |" and lines[3] == "| b |  |  |"  # undefined (None, NaN): blank
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


def _sourced(task, lang, source, seed, metric, sparsity=50, higher=True, name="f1", **extra):
    return _record(task, lang, seed, sparsity, metric, higher, name, source=source, **extra)


def test_baselines_against_transfer_footnote_9():
    own = analysis.runs_frame([_record("ner", "a", s, 50, v) for s, v in enumerate([80, 82])]
                              + [_record("ner", "b", 0, 50, 70)])
    transfer = analysis.runs_frame([
        _sourced("ner", "b", "a", 0, 68), _sourced("ner", "b", "a", 1, 66),  # a -> b: mean 67
        _sourced("ner", "b", "c", 0, 60),                                   # c -> b: 60
        _sourced("ner", "a", "b", 0, 75),
    ])
    baselines = analysis.runs_frame([
        _sourced("ner", "a", "random", 0, 40), _sourced("ner", "b", "random", 0, 30),
        _sourced("ner", "a", "repruned20", 0, 60), _sourced("ner", "a", "repruned10", 0, 65),
    ])
    table = analysis.baselines_against_transfer(
        own, transfer, baselines, language_order=["b", "a"], baseline_order=["repruned10", "repruned20", "random"]
    )
    assert list(table.columns) == ["b", "a"]
    assert list(table.index) == ["ticket", "transfer mean", "transfer worst", "repruned10", "repruned20", "random"]
    assert table.loc["ticket", "a"] == 81 and table.loc["ticket", "b"] == 70
    assert table.loc["transfer mean", "b"] == pytest.approx((67 + 60) / 2)
    assert table.loc["transfer worst", "b"] == 60
    assert table.loc["repruned10", "a"] == 65 and math.isnan(table.loc["repruned10", "b"])
    # perplexity: the worst transfer is the highest value
    ppl = analysis.baselines_against_transfer(
        analysis.runs_frame([_record("mlm", "b", 0, 50, 9, False, "perplexity")]),
        analysis.runs_frame([_sourced("mlm", "b", "a", 0, 10, higher=False, name="perplexity"),
                             _sourced("mlm", "b", "c", 0, 12, higher=False, name="perplexity")]),
        analysis.runs_frame([_sourced("mlm", "b", "random", 0, 30, higher=False, name="perplexity")]),
    )
    assert ppl.loc["transfer worst", "b"] == 12


def test_cross_task_table_means_and_sign_aware_drop():
    runs = analysis.runs_frame(
        [_record("ner", "en", s, 50, v) for s, v in enumerate([90, 92])]
        + [_record("ner", "en", s, 50, v) for s, v in enumerate([88, 88])]
        + [_record("mlm", "en", 0, 50, 10, False, "perplexity"), _record("mlm", "en", 0, 50, 12, False, "perplexity")]
    )
    runs["ticket_task"] = ["ner", "ner", "nli", "nli", "mlm", "ner"]
    table = analysis.cross_task_table(runs, ["mlm", "ner", "nli"], ["en"])
    assert list(zip(table["task"], table["ticket_task"])) == [("mlm", "mlm"), ("mlm", "ner"), ("ner", "ner"),
                                                               ("ner", "nli")]
    ner_nli = table[(table["task"] == "ner") & (table["ticket_task"] == "nli")].iloc[0]
    assert ner_nli["mean"] == 88 and ner_nli["drop_vs_own"] == pytest.approx(-3) and ner_nli["n"] == 2
    mlm_ner = table[(table["task"] == "mlm") & (table["ticket_task"] == "ner")].iloc[0]
    assert mlm_ner["drop_vs_own"] == pytest.approx(-2)  # perplexity 12 against 10 is a loss
    assert table.loc[table["task"] == table["ticket_task"], "drop_vs_own"].eq(0).all()
    assert set(table["metric_name"]) == {"perplexity", "f1"}


def test_multilingual_table_has_table_1_rows():
    dense = analysis.runs_frame([_record("ner", t, 0, 0, v) for t, v in (("ar", 89), ("de", 90))])
    own = analysis.runs_frame([_record("ner", t, 0, 50, v) for t, v in (("ar", 88), ("de", 89), ("en", 91))])
    transfer = analysis.runs_frame([
        _sourced("ner", "ar", "en", 0, 87), _sourced("ner", "de", "en", 0, 87.5),
        _sourced("ner", "ar", "en-fr", 0, 87.6), _sourced("ner", "ar", "en-fr", 1, 87.8),
    ])
    table = analysis.multilingual_table(dense, own, transfer, "en-fr", ["en", "fr"], ["ar", "de", "en"])
    assert list(table.index) == ["dense", "own (f*)", "en", "fr", "en-fr"]
    assert list(table.columns) == ["ar", "de", "en"]
    assert table.loc["dense", "ar"] == 89 and table.loc["own (f*)", "de"] == 89
    assert table.loc["en-fr", "ar"] == pytest.approx(87.7)
    assert table.loc["en", "en"] == 91  # a source that is also a target: its own ticket
    assert math.isnan(table.loc["fr", "ar"]) and math.isnan(table.loc["en-fr", "de"])
