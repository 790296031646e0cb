"""Overlap compared like with like (subnets.overlap): which pairs, the tables with intervals over seed pairs,
and the permutation test of "cross-language overlap lies below the same-language bound", checked against
scipy's independent implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from subnets import masks, overlap


def test_pairs_compare_like_with_like():
    pairs = overlap.overlap_pairs(["a", "b", "c"], [0, 1, 2])
    kinds = {kind: [(x, y) for k, x, y in pairs if k == kind] for kind in overlap.KINDS[:3]}
    # 3 language pairs x 6 ordered pairs of different seeds; same seed apart; 3 languages x 3 seed pairs
    assert len(kinds["cross_language"]) == 3 * 6 and all(x[1] != y[1] for x, y in kinds["cross_language"])
    assert len(kinds["cross_language_same_seed"]) == 3 * 3
    assert all(x[0] != y[0] and x[1] == y[1] for x, y in kinds["cross_language_same_seed"])
    assert len(kinds["same_language"]) == 3 * 3 and all(x[0] == y[0] and x[1] != y[1] for x, y in kinds["same_language"])
    assert overlap.overlap_pairs(["a", "b"], [0]) == [("cross_language_same_seed", ("a", 0), ("b", 0))]


def test_expected_random_overlap_at_the_ends():
    assert masks.expected_random_jaccard(1.0) == pytest.approx(1.0)  # sparsity 0: identical masks
    assert math.isnan(masks.expected_random_jaccard(0.0))  # sparsity 100: nothing kept, overlap undefined


def _records():
    layers = lambda v: {"0": v, "1": v + 0.1, "all": v + 0.05}  # noqa: E731
    return [
        ("cross_language", ("b", 0), ("a", 1), layers(0.4)),
        ("cross_language", ("b", 1), ("a", 0), layers(0.6)),
        ("cross_language_same_seed", ("a", 0), ("b", 0), layers(0.8)),
        ("same_language", ("a", 0), ("a", 1), layers(0.9)),
        ("same_language", ("b", 0), ("b", 1), layers(0.7)),
    ]


def test_table_has_means_and_t_intervals_over_seed_pairs():
    table = overlap.overlap_table(_records(), task="ner", sparsity=50, language_order=["a", "b"])
    cross = table[table["kind"] == "cross_language"].set_index("layer")
    assert set(zip(cross["lang_a"], cross["lang_b"])) == {("a", "b")}  # ordered by language order
    assert cross.loc["0", "jaccard"] == pytest.approx(0.5) and cross.loc["0", "n"] == 2
    low, high = stats.t.interval(0.95, 1, loc=0.5, scale=stats.sem([0.4, 0.6]))
    assert (cross.loc["0", "ci_low"], cross.loc["0", "ci_high"]) == pytest.approx((low, high))
    single = table[table["kind"] == "same_language"]
    assert single["ci_low"].isna().all() and (single["n"] == 1).all()  # one seed pair: no interval
    random = table[table["kind"] == "random"]
    assert list(random["layer"]) == ["0", "1", "all"] and list(random["jaccard"]) == pytest.approx([1 / 3] * 3)
    assert list(table["kind"].unique()) == list(overlap.KINDS)
    wide = overlap.overlap_wide(table)
    assert list(wide.columns) == ["0", "1", "all"]
    assert list(wide.index) == ["a-b", "a-b (same seed)", "a (seeds)", "b (seeds)", "random k/(2-k)"]


@pytest.mark.parametrize(("below", "above"), [([0.3, 0.5, 0.4], [0.6, 0.7]), ([0.5, 0.2, 0.6, 0.4], [0.45, 0.5, 0.3])])
def test_exact_permutation_p_value_agrees_with_scipy(below, above):
    ours, method = overlap.permutation_p_value(below, above)
    reference = stats.permutation_test(
        (np.array(above), np.array(below)), lambda x, y: np.mean(x) - np.mean(y), permutation_type="independent",
        alternative="greater", n_resamples=np.inf,
    ).pvalue  # fmt: skip
    assert method.startswith("exact") and ours == pytest.approx(reference)


def test_random_permutation_p_value_is_close_to_exact_and_seeded(monkeypatch):
    generator = np.random.default_rng(1)
    below, above = generator.normal(0.5, 0.1, 12), generator.normal(0.58, 0.1, 12)
    exact, _ = overlap.permutation_p_value(below, above)
    monkeypatch.setattr(overlap, "EXACT_SPLITS", 10)
    sampled, method = overlap.permutation_p_value(below, above, n_permutations=4000)
    assert "random permutations" in method and sampled == pytest.approx(exact, abs=0.02)
    assert overlap.permutation_p_value(below, above, n_permutations=4000) == (sampled, method)


def test_prediction_interval_holds_new_draws_where_the_mean_interval_does_not():
    """Over many samples of 6 values, a further draw from the same distribution falls in the prediction
    interval 95% of the time; in the interval of the mean (which shrinks with n) far less often."""
    generator = np.random.default_rng(0)
    in_mean = in_prediction = 0
    trials = 2000
    for _ in range(trials):
        values, fresh = generator.normal(0.9, 0.01, 6), generator.normal(0.9, 0.01)
        low, high = overlap.t_interval(values)
        in_mean += low <= fresh <= high
        low, high = overlap.t_prediction_interval(values)
        in_prediction += low <= fresh <= high
    assert in_mean / trials < 0.7 and in_prediction / trials == pytest.approx(0.95, abs=0.015)
    pairs_low, pairs_high = overlap.t_prediction_interval(values, new=4)  # a mean of 4 draws varies less
    assert low < pairs_low < pairs_high < high
    assert all(math.isnan(v) for v in overlap.t_prediction_interval([0.9]))


def test_bound_test_per_layer():
    test = overlap.bound_test(_records(), task="ner", sparsity=50).set_index("layer")
    assert list(test.index) == ["0", "1", "all"]
    row = test.loc["0"]
    assert row["cross_language"] == pytest.approx(0.5) and row["same_language"] == pytest.approx(0.8)
    assert row["difference"] == pytest.approx(0.3) and row["cross_language_same_seed"] == pytest.approx(0.8)
    # 4 values, 2 above: 6 splits; the observed one is the most extreme, so p = 1/6
    assert row["p_value"] == pytest.approx(1 / 6) and row["n_cross"] == 2 and row["n_bound"] == 2
    # The clone's test: where the mean of a language pair's 2 seed pairs falls if it were a same-language
    # pair, from the 2 same-language values 0.9 and 0.7: 0.8 +- t(1) * s * sqrt(1/2 + 1/2).
    half = stats.t.ppf(0.975, 1) * np.std([0.9, 0.7], ddof=1) * 1.0
    assert (row["same_pi_low"], row["same_pi_high"]) == pytest.approx((0.8 - half, 0.8 + half))
    one_seed = overlap.bound_test(_records()[2:3], task="ner", sparsity=50)
    assert one_seed["p_value"].isna().all() and one_seed["method"].str.startswith("undefined").all()


def test_measure_reads_each_pair_and_holds_at_most_two_seeds(tmp_path, monkeypatch):
    shapes = {"encoder.layer.0.output.dense.weight": (4, 6), "encoder.layer.1.output.dense.weight": (4, 6)}
    paths = {}
    for lang in ("a", "b"):
        for seed in (0, 1, 2):
            path = tmp_path / f"{lang}{seed}.safetensors"
            masks.save_mask(path, masks.random_mask(shapes, 0.5, seed=10 * ord(lang) + seed), {"seed": seed})
            paths[(lang, seed)] = path
    loads = []
    original = overlap.load_mask
    monkeypatch.setattr(overlap, "load_mask", lambda p: loads.append(p) or original(p))
    records = overlap.measure(paths, ["a", "b"], [0, 1, 2])
    assert len(records) == len(overlap.overlap_pairs(["a", "b"], [0, 1, 2]))
    for kind, x, y, by_layer in records:
        expected = masks.jaccard_by_layer([masks.load_mask(paths[x])[0], masks.load_mask(paths[y])[0]])
        assert by_layer == pytest.approx(expected), (kind, x, y)
    assert len(loads) <= 2 * 2 * 6  # each of the 6 seed pairs (same seed included) loads at most 2 seeds' masks
