"""The tiny BERT pre-trained on a micro toy world learns context and to relate sentence pairs, without NLI data,
and loads as every task model."""

from __future__ import annotations

import json
import random
import shutil

import pytest
import torch

from subnets import masks
from subnets.tasks import get_task
from subnets.theta0 import build_task_model
from subnets.toy import WorldConfig, write_world
from subnets.toy.pretrain import (
    SENTENCE_END,
    ToyModelConfig,
    _pair_rows,
    edited_copy,
    match_targets,
    pretrain_toy_bert,
    sentence_pairs,
    unigram_perplexity,
)
from subnets.toy.tokenizer import train_tokenizer, world_texts

MICRO_WORLD = WorldConfig(
    seed=0,
    languages=2,
    mlm_train_docs=400,
    mlm_validation_docs=40,
    ner_train=20,
    ner_validation=10,
    ner_test=10,
    nli_train=30,
    nli_validation=30,
    nli_test=30,
    parallel_size=10,
    parallel_nli_size=10,
)
MICRO_MODEL = {
    "hidden_size": 64,
    "num_layers": 2,
    "num_heads": 2,
    "intermediate_size": 128,
    "max_length": 32,
    "pair_steps": 300,
    "pair_share": 0.2,
    "training": {"max_steps": 600, "eval_every": 200, "batch_size": 32, "warmup_steps": 30, "learning_rate": 3e-3},
}


@pytest.fixture(scope="module")
def micro_world(tmp_path_factory):
    """A micro world and its tokenizer, without its NLI files: pre-training must not need them."""
    root = tmp_path_factory.mktemp("toy")
    write_world(root / "world", MICRO_WORLD)
    train_tokenizer(world_texts(root / "world"), root / "tokenizer", vocab_size=400)
    shutil.rmtree(root / "world" / "nli")
    shutil.rmtree(root / "world" / "parallel_nli")
    return root


@pytest.fixture(scope="module")
def pretrained(micro_world):
    config = ToyModelConfig.from_dict(MICRO_MODEL)
    metrics = pretrain_toy_bert(micro_world / "world", micro_world / "tokenizer", micro_world / "model", config, progress=False)
    return micro_world / "model", metrics


def test_pretraining_beats_the_unigram_baseline(pretrained):
    model_dir, metrics = pretrained
    # At this micro scale (800 documents, 300 + 600 steps) the model gets to about 0.57 of the unigram perplexity;
    # the rest of the toy text is random lexical choice that no context predicts. The demo scale goes far lower.
    assert metrics["perplexity"] < 0.75 * metrics["unigram_perplexity"], metrics
    assert metrics["eval_curve"][-1]["metric"] < metrics["eval_curve"][0]["metric"]
    saved = json.loads((model_dir / "pretraining.json").read_text())
    assert saved["perplexity"] == metrics["perplexity"]
    assert saved["languages"] == ["t0", "t1"]


def test_pretraining_learns_to_match_the_second_segment_to_the_first(pretrained):
    _, metrics = pretrained
    # On held-out pairs: does each token of b occur in a? Telling needs attention from b to a; the majority answer
    # is what a model that does not relate the two segments can do.
    assert metrics["warmup_pairs"] == 300 * 32
    assert metrics["train_pairs"] == round(metrics["train_blocks"] * 0.2 / 0.8)
    assert metrics["match_accuracy"] > metrics["match_majority"] + 0.15, metrics


def test_pretraining_is_deterministic(micro_world, tmp_path):
    tiny = {**MICRO_MODEL, "pair_steps": 3, "training": {**MICRO_MODEL["training"], "max_steps": 3, "eval_every": 3}}
    for name in ("a", "b"):
        pretrain_toy_bert(
            micro_world / "world", micro_world / "tokenizer", tmp_path / name, ToyModelConfig.from_dict(tiny),
            progress=False,
        )  # fmt: skip
    for file in ("model.safetensors", "pretraining.json"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes(), file


@pytest.mark.parametrize("task_name", ["mlm", "ner", "nli"])
def test_every_task_model_loads_its_body_from_the_checkpoint(pretrained, task_name):
    model_dir, _ = pretrained
    task = get_task(task_name)
    first, second = (build_task_model(model_dir, task, seed=s) for s in (0, 1))
    body = masks.prunable_parameters(first, masks.infer_family(first))
    other = dict(second.named_parameters())
    # The body (pooler included, for NLI) comes from the checkpoint, so it does not depend on the seed.
    for name, weight in body.items():
        assert torch.equal(weight, other[name]), name
    assert any(name.startswith("bert.pooler") for name in body) == (task_name == "nli")


def test_unigram_perplexity_of_a_uniform_corpus():
    # Four tokens seen equally often: add-one smoothing keeps them equally likely, so perplexity is the
    # vocabulary size over their share of the smoothed mass.
    train = [[5, 6, 7, 8]] * 10
    labels = [[5, -100, 6, 7, 8]]
    total = 40 + 10
    assert unigram_perplexity(train, labels, vocab_size=10) == pytest.approx(total / 11)


TEXTS = [
    ["Anna saw Lima. Bo ran in Oslo.", "Cy ate the red fish."],  # language 0: two documents
    ["Ka mo ti. Ra su.", "Po li ne."],  # language 1
]


def test_sentence_pairs_are_edited_copies_in_their_own_language():
    pairs = sentence_pairs(TEXTS, 400, seed=3)
    assert pairs == sentence_pairs(TEXTS, 400, seed=3) != sentence_pairs(TEXTS, 400, seed=4)
    sentences = [{s for text in texts for s in SENTENCE_END.split(text)} for texts in TEXTS]
    words = [{w.removesuffix(".") for text in texts for w in text.split()} for texts in TEXTS]
    per_language = [0, 0]
    copies = 0
    for a, b in pairs:
        lang = 0 if a in sentences[0] else 1
        assert a in sentences[lang] and b.endswith(".")
        assert set(b.removesuffix(".").split()) <= words[lang]  # words of its own language only
        per_language[lang] += 1
        copies += set(b.removesuffix(".").split()) <= set(a.removesuffix(".").split())
    assert per_language[0] > per_language[1] > 0  # language 0 has more sentences, so more pairs
    assert 0 < copies < len(pairs)  # some b state nothing new, most do


def test_edited_copy_drops_replaces_and_inserts_words():
    rng = random.Random(0)
    vocabulary = [f"v{i}" for i in range(50)]
    words = [f"w{i:02d}" for i in range(20)]
    edits = [edited_copy(rng, words, vocabulary) for _ in range(200)]
    kept = [[word for word in edit if word in words] for edit in edits]
    assert all(set(edit) <= set(words) | set(vocabulary) for edit in edits)
    assert all(k == sorted(k) for k in kept)  # the kept words stay in their order
    assert 0.65 < sum(map(len, kept)) / (200 * 20) < 0.75  # each kept with probability 1 - DROP - REPLACE = 0.7
    assert any(len(edit) < 20 for edit in edits) and any(len(edit) > 20 for edit in edits)
    assert edited_copy(random.Random(0), ["x"], ["y"])  # never empty


def test_pair_rows_mark_the_second_segment(pretrained):
    from transformers import AutoTokenizer

    model_dir, _ = pretrained
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    rows = _pair_rows([("Anna saw Lima.", "Anna saw Oslo.")], tokenizer, max_length=32)
    ids, types = rows[0]["input_ids"], rows[0]["token_type_ids"]
    first_sep = ids.index(tokenizer.sep_token_id)
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    assert types == [0] * (first_sep + 1) + [1] * (len(ids) - first_sep - 1)
    assert len(_pair_rows([], tokenizer, max_length=32)) == 0


def test_match_targets_on_a_hand_made_batch():
    # ids: 0 pad, 1 cls, 2 sep, 3 mask; a = [5, 6, 3], b = [6, 7, 5, 3]
    input_ids = torch.tensor([[1, 5, 6, 3, 2, 6, 7, 5, 3, 2, 0], [1, 5, 2, 5, 2, 0, 0, 0, 0, 0, 0]])
    types = torch.tensor([[0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0], [0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0]])
    targets = match_targets(input_ids, types, ignored_ids=[0, 1, 2, 3])
    n = -100.0
    assert targets.tolist() == [
        [n, n, n, n, n, 1.0, 0.0, 1.0, n, n, n],  # a [MASK] in b is not scored, one in a matches nothing
        [n, n, n, 1.0, n, n, n, n, n, n, n],
    ]
    # A document block has one segment: nothing to score.
    assert (match_targets(input_ids, torch.zeros_like(types), [0, 1, 2, 3]) == -100).all()


def test_pair_settings_are_checked():
    with pytest.raises(ValueError, match="pair_share"):
        ToyModelConfig(pair_share=1.0)
    with pytest.raises(ValueError, match="pair_steps"):
        ToyModelConfig.from_dict({"pair_steps": -1})
