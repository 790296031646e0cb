from __future__ import annotations

import numpy as np
import pytest
import torch

from subnets import masks as M
from subnets import retrieval as R


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def margin_by_the_formula(src: np.ndarray, tgt: np.ndarray, k: int) -> np.ndarray:
    """The appendix E formula, entry by entry, in float64."""
    x, y = unit_rows(src.astype(np.float64)), unit_rows(tgt.astype(np.float64))
    cos = x @ y.T
    n_src, n_tgt = cos.shape
    result = np.empty_like(cos)
    for i in range(n_src):
        x_side = sum(sorted(cos[i], reverse=True)[:k]) / (2 * k)
        for j in range(n_tgt):
            y_side = sum(sorted(cos[:, j], reverse=True)[:k]) / (2 * k)
            result[i, j] = cos[i, j] / (x_side + y_side)
    return result


def accuracy_by_sorting(scores: np.ndarray, n: int) -> float:
    """Percent of rows whose diagonal entry is among the n best, ties ranked ahead of the gold."""
    hits = 0
    for i, row in enumerate(scores):
        others = np.delete(row, i)
        hits += int(np.sum(others >= row[i]) < n)
    return 100.0 * hits / len(scores)


# ----------------------------------------------------------------------------------------- margin retrieval


def test_identical_pairs_are_all_found():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(30, 16))
    assert R.margin_retrieval_accuracy(src, src, k=5) == {1: 100.0, 5: 100.0}
    assert R.margin_retrieval_accuracy(src, src, candidates="all") == {1: 100.0, 5: 100.0}
    assert R.margin_retrieval_accuracy(src, src + 0.01 * rng.normal(size=src.shape), topk=(1,)) == {1: 100.0}


def test_moved_rows_give_exact_percentages():
    # 20 orthogonal sentences; a cycle moves 4 of the targets, so those 4 golds have cosine 0 with their
    # source while the true match sits elsewhere: 16 / 20 found at any rank below 19.
    n = 20
    src = np.eye(n)
    order = np.arange(n)
    order[[3, 7, 11, 15]] = [7, 11, 15, 3]
    assert R.margin_retrieval_accuracy(src, src[order], topk=(1, 5, 10), candidates="all") == {
        1: 80.0, 5: 80.0, 10: 80.0}


def test_margin_beats_a_hub_that_cosine_retrieves():
    # Target 0 is a hub: it shares the direction u with every source, more than any source's own
    # translation does, so plain cosine nearest-neighbour search returns it for every source.
    # Its dense neighbourhood raises its margin denominator; the translations win by margin.
    n, a, c = 5, 1.2, 2.0
    u = np.zeros(n + 1)
    u[n] = 1.0
    eye = np.eye(n + 1)[:n]
    src = eye + a * u
    tgt = eye.copy()
    tgt[0] += c * u
    cosine_nn = np.argmax(unit_rows(src) @ unit_rows(tgt).T, axis=1)
    assert list(cosine_nn) == [0] * n  # cosine finds 1 of 5
    for candidates in ("knn", "all"):
        assert R.margin_retrieval_accuracy(src, tgt, k=2, topk=(1,), candidates=candidates) == {1: 100.0}


def test_margin_scores_equal_the_formula():
    rng = np.random.default_rng(1)
    src = rng.normal(size=(12, 6)) + 2.0  # a shared offset keeps neighbour cosines positive
    tgt = src + rng.normal(size=src.shape)
    expected = margin_by_the_formula(src, tgt, k=3)
    for backend in ("faiss", "numpy"):
        np.testing.assert_allclose(R.margin_scores(src, tgt, k=3, backend=backend), expected, rtol=1e-5)


def test_ranking_all_targets_matches_ranking_by_the_formula():
    rng = np.random.default_rng(2)
    src = rng.normal(size=(60, 8)) + 1.0
    tgt = src + 0.8 * rng.normal(size=src.shape)
    scores = margin_by_the_formula(src, tgt, k=4)
    expected = {n: accuracy_by_sorting(scores, n) for n in (1, 5)}
    assert 0 < expected[1] < expected[5] < 100  # the case exercises both ranks
    assert R.margin_retrieval_accuracy(src, tgt, k=4, candidates="all") == expected


def laser_forward_search_by_hand(src: np.ndarray, tgt: np.ndarray, k: int, topk: tuple[int, ...]) -> dict:
    """LASER's forward search (mine_bitexts.py --mode search, xsim.py) from its published description,
    in plain loops and float64, no faiss: each source's candidates are its k cosine-nearest targets, scored
    with the ratio margin; accuracy@n = the gold is among the n best-scored candidates."""
    n_sent = len(src)
    x = [row / np.sqrt(sum(v * v for v in row)) for row in src.astype(np.float64)]
    y = [row / np.sqrt(sum(v * v for v in row)) for row in tgt.astype(np.float64)]
    cos = [[float(sum(a * b for a, b in zip(x[i], y[j]))) for j in range(n_sent)] for i in range(n_sent)]
    x_density = [sum(sorted(cos[i], reverse=True)[:k]) / k for i in range(n_sent)]
    y_density = [sum(sorted((cos[i][j] for i in range(n_sent)), reverse=True)[:k]) / k for j in range(n_sent)]
    hits = dict.fromkeys(topk, 0)
    for i in range(n_sent):
        shortlist = sorted(range(n_sent), key=lambda j: -cos[i][j])[:k]
        by_margin = sorted(shortlist, key=lambda j: -cos[i][j] / ((x_density[i] + y_density[j]) / 2))
        for n in topk:
            hits[n] += i in by_margin[:n]
    return {n: 100.0 * hits[n] / n_sent for n in topk}


def anisotropic_pairs(n: int = 150, dim: int = 24, noise: float = 0.8, seed: int = 1):
    """Translations sharing a sentence vector; variances spread over two orders of magnitude, a common offset
    (as mean-pooled BERT states have) and sentences of uneven spread, so neighbourhood densities differ."""
    rng = np.random.default_rng(seed)
    scales = np.geomspace(4, 0.05, dim)
    base = rng.normal(size=(n, dim)) * scales * rng.uniform(0.3, 1.7, size=(n, 1)) + 3.0
    return base + noise * rng.normal(size=(n, dim)) * scales, base + noise * rng.normal(size=(n, dim)) * scales


def test_default_retrieval_is_lasers_forward_search():
    src, tgt = anisotropic_pairs()
    k, topk = 4, (1, 2, 4)
    expected = laser_forward_search_by_hand(src, tgt, k, topk)
    for backend in ("faiss", "numpy"):
        assert R.margin_retrieval_accuracy(src, tgt, k=k, topk=topk, backend=backend) == expected
    assert R.margin_retrieval_accuracy(src, tgt, k=k, topk=topk, candidates="knn") == expected
    # Ranking every target finds translations that cosine ranks below the k-th: a different (higher) number.
    everything = R.margin_retrieval_accuracy(src, tgt, k=k, topk=topk, candidates="all")
    assert everything[1] != expected[1] and everything[4] != expected[4]
    assert everything[4] - expected[4] >= 3  # 47.3 vs 43.3 percent on this input


def test_faiss_and_numpy_agree_on_random_data_and_any_block_size():
    rng = np.random.default_rng(3)
    src = rng.normal(size=(300, 32)) + 0.5
    tgt = src + 1.5 * rng.normal(size=src.shape)
    for candidates, k in (("all", 4), ("knn", 10)):
        options = {"k": k, "topk": (1, 5, 10), "candidates": candidates}
        reference = R.margin_retrieval_accuracy(src, tgt, backend="numpy", **options)
        assert 0 < reference[1] < 100
        for backend in ("faiss", "numpy"):
            for block_size in (7, 300, 1024):
                got = R.margin_retrieval_accuracy(src, tgt, backend=backend, block_size=block_size, **options)
                assert got == reference
    np.testing.assert_allclose(
        R.margin_scores(src, tgt, backend="faiss"), R.margin_scores(src, tgt, backend="numpy"), rtol=1e-5
    )


def test_sentences_that_cannot_be_told_apart_are_not_found():
    same = np.ones((10, 4))
    assert R.margin_retrieval_accuracy(same, same, candidates="all") == {1: 0.0, 5: 0.0}
    # Among the k cosine-nearest (all tied) every candidate ties the gold, so it is never ahead at n < k.
    assert R.margin_retrieval_accuracy(same, same, k=5, topk=(1, 4)) == {1: 0.0, 4: 0.0}


@pytest.mark.parametrize(
    "src, tgt, kwargs, message",
    [
        (np.ones(5), np.ones(5), {}, "2-D"),
        (np.ones((5, 2)), np.ones((6, 2)), {}, "same shape"),
        (np.full((5, 2), np.nan), np.ones((5, 2)), {}, "non-finite"),
        (np.eye(5), np.eye(5), {"k": 5}, "k must be"),
        (np.eye(5), np.eye(5), {"k": 0}, "k must be"),
        (np.eye(5), np.eye(5), {"topk": (0,)}, "topk"),
        (np.eye(5), np.eye(5), {"topk": ()}, "topk"),
        (np.eye(5), np.eye(5), {"backend": "annoy", "topk": (1,)}, "backend"),
        (np.eye(5), np.eye(5), {"candidates": "best"}, "unknown candidates 'best'"),
        (np.eye(6), np.eye(6), {"k": 4, "topk": (1, 5)}, r"accuracy@5 needs 5 candidates.*k=4"),
        (np.eye(6), np.eye(6), {"k": 2, "topk": (2, 3)}, r"accuracy@3 .*k=2"),
        (np.vstack([np.eye(4), np.zeros(4)]), np.vstack([np.eye(4), np.ones(4)]), {}, "src row 4 is all zeros"),
        (np.eye(5), -np.eye(5), {"k": 1, "topk": (1,)}, "undefined"),
    ],
)
def test_bad_inputs_are_refused(src, tgt, kwargs, message):
    with pytest.raises(ValueError, match=message):
        R.margin_retrieval_accuracy(src, tgt, **kwargs)


# ----------------------------------------------------------------------------------------- sentence vectors

SENTENCES = [
    "the cat sees a dog",
    "anna",
    "bob likes the big red car in paris and rome",
    "the song",
    "eve reads a book by the river",
    "carla finds the old green house",
    "dmitri builds",
]


@pytest.fixture(scope="module")
def encoder(tiny_bert_dir):
    """The tiny BERT's shape with 512 positions (the one-by-one baseline pads to 512), and its tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    config = BertConfig.from_pretrained(tiny_bert_dir, max_position_embeddings=512)
    torch.manual_seed(0)
    return BertForMaskedLM(config).eval(), AutoTokenizer.from_pretrained(tiny_bert_dir)


def test_sorted_dynamic_batches_equal_one_by_one_at_512(encoder):
    model, tokenizer = encoder
    for cls in (False, True):
        fast = R.embed_sentences(model, tokenizer, SENTENCES, batch_size=3, cls=cls)
        slow = R.embed_sentences_one_by_one(model, tokenizer, SENTENCES, cls=cls)
        assert fast.shape == slow.shape == (model.config.num_hidden_layers + 1, len(SENTENCES), 32)
        assert fast.dtype == np.float32
        np.testing.assert_allclose(fast, slow, atol=1e-5)


def test_rows_come_back_in_input_order(encoder):
    model, tokenizer = encoder
    forward = R.embed_sentences(model, tokenizer, SENTENCES, batch_size=2)
    backward = R.embed_sentences(model, tokenizer, SENTENCES[::-1], batch_size=2)
    np.testing.assert_allclose(backward, forward[:, ::-1], atol=1e-5)
    single = R.embed_sentences(model, tokenizer, [SENTENCES[2]])
    np.testing.assert_allclose(single[:, 0], forward[:, 2], atol=1e-5)


def test_excluding_special_tokens_matches_a_direct_computation(encoder):
    model, tokenizer = encoder
    with_special = R.embed_sentences(model, tokenizer, SENTENCES, batch_size=4)
    without = R.embed_sentences(model, tokenizer, SENTENCES, batch_size=4, include_special_tokens=False)
    assert not np.allclose(with_special, without, atol=1e-3)
    with torch.no_grad():
        for i, sentence in enumerate(SENTENCES):
            encoded = tokenizer(sentence, return_tensors="pt")
            states = model.bert(**encoded, output_hidden_states=True).hidden_states
            inner = slice(1, encoded["input_ids"].shape[1] - 1)  # [CLS] words [SEP]
            expected = np.stack([layer[0, inner].mean(dim=0).numpy() for layer in states])
            np.testing.assert_allclose(without[:, i], expected, atol=1e-5)


def test_embedding_leaves_the_training_mode_alone(encoder):
    model, tokenizer = encoder
    model.train()
    try:
        R.embed_sentences(model, tokenizer, SENTENCES[:2])
        assert model.training
    finally:
        model.eval()


def test_mean_pool_by_hand():
    layer = torch.arange(2 * 4 * 3, dtype=torch.float32).view(2, 4, 3)
    attention = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    special = torch.tensor([[1, 0, 1, 1], [1, 0, 0, 1]])
    pooled = R.mean_pool_hidden_states((layer, 2 * layer), attention)
    assert pooled.shape == (2, 2, 3)
    torch.testing.assert_close(pooled[0, 0], layer[0, :3].mean(dim=0))
    torch.testing.assert_close(pooled[1, 1], 2 * layer[1].mean(dim=0))
    pooled = R.mean_pool_hidden_states((layer,), attention, special)
    torch.testing.assert_close(pooled[0, 0], layer[0, 1])
    torch.testing.assert_close(pooled[0, 1], layer[1, 1:3].mean(dim=0))


# ----------------------------------------------------------------------------------------- masked encoder


@pytest.fixture
def quiet_loads():
    """Loading one checkpoint into other classes prints a report of the heads each lacks: expected here."""
    import transformers

    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    yield
    transformers.logging.set_verbosity(verbosity)


def test_masked_encoder_zeroes_exactly_the_pruned_weights(tiny_bert_dir, quiet_loads):
    from transformers import BertForMaskedLM, BertForSequenceClassification, BertModel

    # An XNLI-style ticket: keyed by the task model's names ("bert." prefix), pooler included.
    task_model = BertForSequenceClassification.from_pretrained(tiny_bert_dir, num_labels=3)
    mask = M.random_mask(M.prunable_shapes(task_model), 0.5, seed=0)
    assert "bert.pooler.dense.weight" in mask

    for model_class in (BertModel, BertForMaskedLM, BertForSequenceClassification):
        model = model_class.from_pretrained(tiny_bert_dir)
        before = {name: p.detach().clone() for name, p in model.named_parameters()}
        assert R.masked_encoder(model, mask) is model
        masked = set()
        for name, param in model.named_parameters():
            key = name if name in mask else f"bert.{name}"
            if key in mask:
                masked.add(key)
                kept = mask[key]
                assert torch.equal(param[~kept], torch.zeros_like(param[~kept])), name
                assert torch.equal(param[kept], before[name][kept]), name
            else:
                assert torch.equal(param, before[name]), name
        # Every matrix is masked; the pooler only where the model has one (BertForMaskedLM has none).
        assert masked == set(mask) - ({"bert.pooler.dense.weight"} if model_class is BertForMaskedLM else set())


def test_masked_encoder_names_the_parameter_that_does_not_fit(tiny_bert_dir, quiet_loads):
    from transformers import BertModel

    model = BertModel.from_pretrained(tiny_bert_dir)
    mask = M.random_mask(M.prunable_shapes(model), 0.5, seed=0)
    wrong_shape = dict(mask)
    wrong_shape["encoder.layer.1.output.dense.weight"] = torch.ones(3, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"encoder\.layer\.1\.output\.dense\.weight"):
        R.masked_encoder(model, wrong_shape)
    missing = {name: m for name, m in mask.items() if name != "encoder.layer.0.attention.self.key.weight"}
    with pytest.raises(ValueError, match=r"encoder\.layer\.0\.attention\.self\.key\.weight"):
        R.masked_encoder(model, missing)
    extra = {**mask, "encoder.layer.9.output.dense.weight": torch.ones(2, 2, dtype=torch.bool)}
    with pytest.raises(ValueError, match=r"encoder\.layer\.9"):
        R.masked_encoder(model, extra)
