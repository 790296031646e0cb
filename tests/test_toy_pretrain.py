"""The tiny BERT pre-trained on a micro toy world learns context, and loads as every task model."""

from __future__ import annotations

import json

import pytest
import torch

from subnets import masks
from subnets.tasks import get_task
from subnets.theta0 import build_task_model
from subnets.toy import WorldConfig, write_world
from subnets.toy.pretrain import ToyModelConfig, pretrain_toy_bert, unigram_perplexity
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
    "training": {"max_steps": 600, "eval_every": 200, "batch_size": 32, "warmup_steps": 30, "learning_rate": 3e-3},
}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    write_world(root / "world", MICRO_WORLD)
    train_tokenizer(world_texts(root / "world"), root / "tokenizer", vocab_size=400)
    metrics = pretrain_toy_bert(
        root / "world", root / "tokenizer", root / "model", ToyModelConfig.from_dict(MICRO_MODEL), progress=False
    )
    return root / "model", metrics


def test_pretraining_beats_the_unigram_baseline(pretrained):
    model_dir, metrics = pretrained
    # At this micro scale (800 documents, 600 steps) the model gets to about 0.65 of the unigram perplexity; the
    # rest of the toy text is random lexical choice that no context predicts. The demo scale goes far lower.
    assert metrics["perplexity"] < 0.75 * metrics["unigram_perplexity"], metrics
    assert metrics["eval_curve"][-1]["metric"] < metrics["eval_curve"][0]["metric"]
    saved = json.loads((model_dir / "pretraining.json").read_text())
    assert saved["perplexity"] == metrics["perplexity"]
    assert saved["languages"] == ["t0", "t1"]


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
