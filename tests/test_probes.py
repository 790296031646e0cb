"""Probes of theta0 * mask: retrieval and CCA tables per layer on a tiny random BERT."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from subnets import masks
from subnets.probes import cca_by_layer, load_masked_body, retrieval_by_layer

from tests.conftest import TEST_WORDS

# Distinct sentences over the tiny tokenizer's words (anything else would be [UNK]).
_WORDS = [w for w in TEST_WORDS if not w.startswith("##")]
SENTENCES = [" ".join(_WORDS[(i * j + i) % len(_WORDS)] for j in range(3 + i % 4)) for i in range(24)]


def test_retrieval_of_identical_sentences_is_perfect_at_every_layer(tiny_bert_dir):
    model, tokenizer = load_masked_body(tiny_bert_dir)
    layers = model.config.num_hidden_layers + 1
    for candidates in ("knn", "all"):
        table = retrieval_by_layer(model, tokenizer, {("xx", "yy"): (SENTENCES, SENTENCES)}, k=5, topk=(1, 5),
                                   candidates=candidates)  # fmt: skip
        assert len(table) == 2 * layers * 2  # both directions, every layer, two n
        assert (table["accuracy"] == 100.0).all()
        assert set(zip(table["src"], table["tgt"])) == {("xx", "yy"), ("yy", "xx")}
    with pytest.raises(ValueError, match="not aligned"):
        retrieval_by_layer(model, tokenizer, {("xx", "yy"): (SENTENCES, SENTENCES[:-1])})


def test_retrieval_refuses_more_ranks_than_lasers_candidates_before_encoding(tiny_bert_dir, monkeypatch):
    from subnets import probes

    model, tokenizer = load_masked_body(tiny_bert_dir)
    monkeypatch.setattr(probes, "embed_sentences", lambda *a, **kw: pytest.fail("encoded before checking topk"))
    with pytest.raises(ValueError, match=r"accuracy@5 .*k=2"):
        retrieval_by_layer(model, tokenizer, {("xx", "yy"): (SENTENCES, SENTENCES)}, k=2, topk=(1, 5))
    with pytest.raises(ValueError, match="unknown candidates"):
        retrieval_by_layer(model, tokenizer, {("xx", "yy"): (SENTENCES, SENTENCES)}, candidates="every")


def test_a_layer_without_a_margin_gives_nan_not_a_failed_probe(tiny_bert_dir, monkeypatch, capsys):
    from subnets import probes
    from subnets.retrieval import UndefinedMarginError, margin_retrieval_accuracy

    def undefined_at_layer_one(src, tgt, k, topk, candidates):
        if np.allclose(src, layer_one):
            raise UndefinedMarginError("tgt row 0: the mean cosine to its 2 nearest neighbours is -0.001 <= 0")
        return margin_retrieval_accuracy(src, tgt, k, topk, candidates)

    model, tokenizer = load_masked_body(tiny_bert_dir)
    layer_one = probes.embed_sentences(model, tokenizer, SENTENCES, batch_size=64, max_length=128)[1]
    monkeypatch.setattr(probes, "margin_retrieval_accuracy", undefined_at_layer_one)
    table = retrieval_by_layer(model, tokenizer, {("xx", "yy"): (SENTENCES, SENTENCES)}, k=2, topk=(1, 2))
    assert table[table["layer"] == 1]["accuracy"].isna().all() and len(table[table["layer"] == 1]) == 4
    assert (table[table["layer"] != 1]["accuracy"] == 100.0).all()
    assert "layer 1: tgt row 0" in capsys.readouterr().err


def test_cca_of_a_language_with_itself_is_one(tiny_bert_dir, capsys):
    model, tokenizer = load_masked_body(tiny_bert_dir)
    table = cca_by_layer(model, tokenizer, ("xx", SENTENCES), {"xx": SENTENCES, "zz": SENTENCES[::-1]})
    same = table[table["language"] == "xx"].set_index("layer")
    assert list(same.index) == list(range(model.config.num_hidden_layers + 1))
    # Layer 0's [CLS] vector is the same embedding for every sentence: no variance, undefined (NaN), not 0.
    layer0 = table[table["layer"] == 0]
    assert len(layer0) == 2 and layer0[["svcca", "pwcca"]].isna().all().all()
    assert np.allclose(same.loc[1:, "svcca"], 1.0, atol=1e-6) and np.allclose(same.loc[1:, "pwcca"], 1.0, atol=1e-6)
    assert table[table["layer"] > 0][["svcca", "pwcca"]].notna().all().all()
    err = capsys.readouterr().err
    for lang in ("xx", "zz"):
        assert (f"cca xx-{lang} layer 0: the [CLS] vectors of xx and {lang} are constant (the same for every "
                "sentence, no variance): SVCCA and PWCCA undefined; recorded as NaN") in err
    assert "layer 1" not in err


def test_cca_is_nan_only_where_one_side_is_constant(tiny_bert_dir, monkeypatch, capsys):
    from subnets import probes

    model, tokenizer = load_masked_body(tiny_bert_dir)
    real = probes.embed_sentences

    def constant_for_zz_at_layer_two(model, tokenizer, sentences, **options):
        vectors = real(model, tokenizer, sentences, **options)
        if list(sentences) == SENTENCES[::-1]:
            vectors[2] = vectors[2][0]
        return vectors

    monkeypatch.setattr(probes, "embed_sentences", constant_for_zz_at_layer_two)
    table = cca_by_layer(model, tokenizer, ("xx", SENTENCES), {"zz": SENTENCES[::-1]}).set_index("layer")
    assert table.loc[2, ["svcca", "pwcca"]].isna().all() and table.loc[1, ["svcca", "pwcca"]].notna().all()
    assert "cca xx-zz layer 2: the [CLS] vectors of zz are constant" in capsys.readouterr().err


def test_masked_body_zeroes_the_ticket_and_names_a_bad_mask(tiny_bert_dir, tmp_path):
    from transformers import AutoModel

    dense = AutoModel.from_pretrained(tiny_bert_dir)
    shapes = {f"bert.{name}": shape for name, shape in masks.prunable_shapes(dense).items() if "pooler" not in name}
    ticket = masks.random_mask(shapes, 0.5, seed=0)
    masks.save_mask(tmp_path / "m.safetensors", ticket, {"task": "ner"})
    model, _ = load_masked_body(tiny_bert_dir, tmp_path / "m.safetensors")
    weight = dict(model.named_parameters())["encoder.layer.0.output.dense.weight"]
    kept = ticket["bert.encoder.layer.0.output.dense.weight"]
    assert torch.all(weight[~kept] == 0) and torch.equal(weight[kept], dict(dense.named_parameters())[
        "encoder.layer.0.output.dense.weight"][kept])
    bad = {name: m for name, m in ticket.items() if "layer.0." not in name}
    masks.save_mask(tmp_path / "bad.safetensors", bad, {})
    with pytest.raises(ValueError, match="bad.safetensors"):
        load_masked_body(tiny_bert_dir, tmp_path / "bad.safetensors")
