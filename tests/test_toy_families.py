"""The toy models of the families beyond BERT and mT5 (issue 18): a tiny XLM-R (``xlmr``) and a tiny Llama
(``decoder``), pre-trained for a few steps on a micro toy world; their tokenizers, their checkpoints as every task
model's body, their prunable weights, masked training and the probes' sentence vectors. Sizes are tiny: these
tests check the plumbing; what the models learn at the demo's size is in BENCHMARKS.md."""

from __future__ import annotations

import json
import math

import pytest
import torch
import yaml

from subnets import masks
from subnets.retrieval import embed_sentences, sentence_token
from subnets.tasks import get_task
from subnets.theta0 import build_task_model, model_family
from subnets.toy import WorldConfig, write_world
from subnets.toy.pretrain import (
    TOY_MODEL_FAMILIES,
    ToyModelConfig,
    family_tokenizer,
    match_targets,
    pretrain_toy_model,
    second_segment,
    summary_targets,
    toy_model_config_class,
    toy_pretraining,
)
from subnets.toy.tokenizer import (
    LLAMA_STYLE,
    ROBERTA_STYLE,
    SPECIAL_TOKENS,
    restyled_tokenizer,
    train_tokenizer,
    world_texts,
)
from subnets.training import TrainingConfig, train_masked

from test_families import REPO

FAMILIES = ("xlmr", "decoder")
MODEL_TYPE = {"xlmr": "xlm-roberta", "decoder": "llama"}
TASK_CLASSES = {
    "xlmr": {"mlm": "XLMRobertaForMaskedLM", "ner": "XLMRobertaForTokenClassification",
             "nli": "XLMRobertaForSequenceClassification"},
    "decoder": {"mlm": "LlamaForCausalLM", "ner": "LlamaForTokenClassification",
                "nli": "LlamaForSequenceClassification"},
}  # fmt: skip
PER_LAYER = {"xlmr": 6, "decoder": 7}
TINY_WORLD = WorldConfig(
    seed=0, languages=2, mlm_train_docs=40, mlm_validation_docs=8, ner_train=16, ner_validation=8, ner_test=4,
    nli_train=12, nli_validation=6, nli_test=6, parallel_size=8, parallel_nli_size=6,
)  # fmt: skip
TINY_MODEL = {
    "hidden_size": 32, "num_layers": 2, "num_heads": 2, "intermediate_size": 64, "max_length": 32,
    "pair_steps": 2, "pair_share": 0.2,
    "training": {"max_steps": 2, "eval_every": 2, "batch_size": 8, "eval_batch_size": 32, "warmup_steps": 0},
}  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy_families")
    write_world(root / "world", TINY_WORLD)
    train_tokenizer(world_texts(root / "world"), root / "tokenizer", vocab_size=300)
    return root


@pytest.fixture(scope="module")
def toy_models(world):
    """family -> (family, model directory, pre-training metrics) of toy models pre-trained for a few steps."""
    models = {}
    for family in FAMILIES:
        out = world / f"model-{family}"
        metrics = pretrain_toy_model(world / "world", world / "tokenizer", out,
                                     ToyModelConfig.from_dict(TINY_MODEL), family, progress=False)  # fmt: skip
        models[family] = (family, out, metrics)
    return models


@pytest.fixture(params=FAMILIES)
def toy(request, toy_models):
    return toy_models[request.param]


def _tokenizer(path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


# ---------------------------------------------------------------------------------------------- tokenizers


def test_restyled_tokenizers_keep_the_learnt_pieces_after_the_familys_special_tokens(world):
    bert = _tokenizer(world / "tokenizer")
    pieces = [p for p, _ in sorted(bert.get_vocab().items(), key=lambda item: item[1]) if p not in SPECIAL_TOKENS]
    for style, extra in ((ROBERTA_STYLE, []), (LLAMA_STYLE, ["Premise", "Hypothesis", ":"])):
        tokenizer = restyled_tokenizer(world / "tokenizer", style, extra)
        vocab = [p for p, _ in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])]
        assert vocab[: len(style.specials)] == list(style.specials)
        new = [word for word in extra if word not in pieces]
        assert vocab[len(style.specials) :] == pieces + new
        if extra:
            assert tokenizer.tokenize("Premise: x")[:2] == ["Premise", ":"]
        assert "token_type_ids" not in tokenizer("a", "b")


def test_the_xlmr_tokenizer_marks_pairs_as_roberta_does(toy_models):
    _, path, _ = toy_models["xlmr"]
    tokenizer = _tokenizer(path)
    assert [tokenizer.bos_token, tokenizer.pad_token, tokenizer.eos_token, tokenizer.unk_token] == [
        "<s>", "<pad>", "</s>", "<unk>"]  # fmt: skip
    assert tokenizer.convert_tokens_to_ids(["<s>", "<pad>", "</s>", "<unk>"]) == [0, 1, 2, 3]
    assert tokenizer.cls_token == "<s>" and tokenizer.sep_token == "</s>" and tokenizer.mask_token == "<mask>"
    ids = tokenizer("Anna", "Bo")["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids) == ["<s>", *tokenizer.tokenize("Anna"), "</s>", "</s>",
                                                    *tokenizer.tokenize("Bo"), "</s>"]  # fmt: skip
    assert "token_type_ids" not in tokenizer.model_input_names


def test_the_decoder_tokenizer_pads_on_the_right_with_a_pad_token_of_its_own(toy_models):
    family, path, _ = toy_models["decoder"]
    tokenizer = _tokenizer(path)
    assert tokenizer.padding_side == "right" and tokenizer.pad_token == "<pad>" != tokenizer.eos_token
    assert tokenizer.convert_ids_to_tokens(tokenizer("Anna")["input_ids"])[0] == "<s>"  # Llama: <s>, no </s>
    rows = get_task("nli", family).tokenize(_nli_raw(), tokenizer, max_length=64, split="validation", seed=0)
    tokens = tokenizer.convert_ids_to_tokens(rows[0]["input_ids"])
    assert tokens[:3] == ["<s>", "Premise", ":"] and tokens[-1] == "</s>"  # no [UNK]: the prompt's words are known
    assert tokens[tokens.index("</s>") + 1 : tokens.index("</s>") + 3] == ["Hypothesis", ":"]
    assert tokenizer.unk_token not in tokens
    config = json.loads((path / "config.json").read_text())
    assert config["pad_token_id"] == tokenizer.pad_token_id and config["tie_word_embeddings"] is True


def _nli_raw():
    import datasets

    return datasets.Dataset.from_dict({"premise": ["Anna saw Lima."], "hypothesis": ["Anna saw."], "label": [0]})


# --------------------------------------------------------------------------------------------- checkpoints


def test_the_checkpoint_is_the_familys_plain_pretraining_model(toy):
    family, path, metrics = toy
    config = json.loads((path / "config.json").read_text())
    assert config["model_type"] == MODEL_TYPE[family] and model_family(path) == family
    assert config["architectures"] == [TASK_CLASSES[family]["mlm"]]
    assert metrics["family"] == family and math.isfinite(metrics["perplexity"])
    assert metrics["warmup_pairs"] == 2 * 8 and 0 <= metrics["match_accuracy"] <= 1
    assert (metrics["summary_accuracy"] is not None) if family == "decoder" else "summary_accuracy" not in metrics
    from safetensors import safe_open

    with safe_open(path / "model.safetensors", "pt") as saved:
        assert not [name for name in saved.keys() if name.startswith(("match_head", "summary_head"))]
    assert json.loads((path / "pretraining.json").read_text())["perplexity"] == metrics["perplexity"]


def test_xlmr_numbers_positions_after_the_padding_index(toy_models):
    from transformers import AutoModel

    _, path, _ = toy_models["xlmr"]
    tokenizer, body = _tokenizer(path), AutoModel.from_pretrained(path).eval()
    assert body.config.pad_token_id == tokenizer.pad_token_id == 1 and body.config.type_vocab_size == 1
    assert body.config.max_position_embeddings == max(128, TINY_MODEL["max_length"]) + tokenizer.pad_token_id + 1
    batch = tokenizer(["Anna saw Lima.", "Bo"], padding=True, return_tensors="pt")
    assert batch["input_ids"][1, -1] == tokenizer.pad_token_id  # right padding
    with torch.no_grad():
        padded = body(**batch).last_hidden_state[1]
        alone = body(**tokenizer("Bo", return_tensors="pt")).last_hidden_state[0]
    assert torch.allclose(padded[: len(alone)], alone, atol=1e-5)  # the pads do not move the real tokens' positions


@pytest.mark.parametrize("task_name", ["mlm", "ner", "nli"])
def test_every_task_model_loads_its_body_from_the_toy_checkpoint(toy, task_name):
    family, path, _ = toy
    task = get_task(task_name, family)
    first, second = (build_task_model(path, task, seed=s) for s in (0, 1))
    assert type(first).__name__ == TASK_CLASSES[family][task_name]
    assert masks.infer_family(first) == family
    body = masks.prunable_parameters(first, family)
    other = dict(second.named_parameters())
    for name, weight in body.items():  # the body comes from the checkpoint, so it does not depend on the seed
        assert torch.equal(weight, other[name]), name
    if family == "decoder" and task_name == "nli":
        assert first.config.pad_token_id == _tokenizer(path).pad_token_id


@pytest.mark.parametrize("task_name", ["mlm", "ner", "nli"])
def test_the_prunable_set_is_the_layer_matrices(toy, task_name):
    family, path, _ = toy
    model = build_task_model(path, get_task(task_name, family), seed=0)
    prunable = masks.prunable_parameters(model, family)
    assert len(prunable) == TINY_MODEL["num_layers"] * PER_LAYER[family]
    excluded = ("embed", "norm", "LayerNorm", "bias", "lm_head", "score", "classifier", "pooler")
    assert not [name for name in prunable if any(part in name for part in excluded)]
    assert all(tensor.dim() == 2 for tensor in prunable.values())
    others = [name for name, _ in model.named_parameters() if name not in prunable]
    assert any("embed" in name for name in others) and any("norm" in name.lower() for name in others)


@pytest.mark.parametrize("task_name", ["mlm", "ner", "nli"])
def test_masked_training_keeps_pruned_weights_at_zero(toy, world, task_name):
    from subnets.data import load_raw

    family, path, _ = toy
    task = get_task(task_name, family)
    tokenizer = _tokenizer(path)
    raw = load_raw(task, str(world / "world" / task_name / "{lang}"), "t0")
    rows = task.tokenize(raw["train"].select(range(8)), tokenizer, max_length=32, split="train", seed=0)
    evaluation = task.tokenize(raw["validation"], tokenizer, max_length=32, split="validation", seed=0)
    model = build_task_model(path, task, seed=0)
    mask = masks.random_mask(masks.prunable_shapes(model, family), 0.5, seed=1)
    config = TrainingConfig(learning_rate=1e-2, batch_size=4, eval_batch_size=16, max_steps=2, eval_every=2, seed=0)
    result = train_masked(model, task, tokenizer, rows, evaluation, config, mask, progress=False)
    assert math.isfinite(result.peak_metric)
    for name, kept in mask.items():
        assert not result.final_state[name][~kept].any(), name
        assert result.final_state[name][kept].any(), name


# ------------------------------------------------------------------------------------------------- probes


SENTENCES = ["Anna saw Lima.", "Bo ran.", "Anna saw Bo in Lima."]


def test_probe_vectors_of_the_toy_models_against_a_direct_computation(toy):
    """CCA reads the last non-pad token of a decoder (the first token of an encoder), retrieval the mean over the
    real tokens; both from one padded batch, against each sentence run alone."""
    from transformers import AutoModel

    family, path, _ = toy
    tokenizer, body = _tokenizer(path), AutoModel.from_pretrained(path).eval()
    assert sentence_token(body) == ("last" if family == "decoder" else "first")
    tokens = embed_sentences(body, tokenizer, SENTENCES, batch_size=3, cls=True)
    means = embed_sentences(body, tokenizer, SENTENCES, batch_size=3)
    with torch.no_grad():
        for i, sentence in enumerate(SENTENCES):
            states = body(**tokenizer(sentence, return_tensors="pt"), output_hidden_states=True).hidden_states
            position = -1 if family == "decoder" else 0
            expected = torch.stack([layer[0, position] for layer in states])
            assert torch.allclose(torch.from_numpy(tokens[:, i]), expected, atol=1e-5), i
            mean = torch.stack([layer[0].mean(dim=0) for layer in states])
            assert torch.allclose(torch.from_numpy(means[:, i]), mean, atol=1e-5), i


# ----------------------------------------------------------------------------------------- pair objectives


def test_the_second_segment_follows_the_first_separator_without_token_types():
    # <s>=0 <pad>=1 </s>=2: <s> 5 6 </s> </s> 6 7 </s> <pad>, and a document block <s> 5 6 </s>
    ids = torch.tensor([[0, 5, 6, 2, 2, 6, 7, 2, 1], [0, 5, 6, 2, 1, 1, 1, 1, 1]])
    segments = second_segment(ids, None, separator_id=2)
    assert segments.tolist() == [[0, 0, 0, 0, 1, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1, 1, 1, 1]]
    targets = match_targets(ids, segments, ignored_ids=[0, 1, 2])
    n = -100.0
    assert targets.tolist() == [[n, n, n, n, n, 1.0, 0.0, n, n], [n] * 9]
    types = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1, 0]])
    assert torch.equal(second_segment(ids[:1], types, separator_id=2), types)  # token types win where there are


def test_summary_targets_count_the_new_tokens_of_b_so_far():
    # a decoder's pair: <s>=1 </s>=2 <pad>=3; a = [5, 6], b = [6, 7, 8, 5]; a document block has no b
    ids = torch.tensor([[1, 5, 6, 2, 6, 7, 8, 5, 2, 3], [1, 5, 6, 7, 3, 3, 3, 3, 3, 3]])
    attention = (ids != 3).long()
    segments = second_segment(ids, None, separator_id=2)
    targets = match_targets(ids, segments, ignored_ids=[1, 2, 3])
    counts = summary_targets(targets, segments, attention, classes=3)
    n = -100
    assert counts.tolist() == [[n, n, n, n, 0, 1, 2, 2, 2, n], [n] * 10]  # capped at classes - 1; not at pads
    assert summary_targets(targets, segments, attention, classes=4)[0, 8] == 2  # the last token: 2 of b are new


# ------------------------------------------------------------------------------------------------ configs


def test_every_family_has_a_toy_model_and_its_keys():
    from subnets.toy.pretrain_t5 import ToyT5Config

    assert set(TOY_MODEL_FAMILIES) == {"bert", "xlmr", "decoder", "t5"}
    pair_steps = {"bert": 400, "xlmr": 800, "decoder": 800}
    for family in ("bert", "xlmr", "decoder"):
        config_class = toy_model_config_class(family)
        assert issubclass(config_class, ToyModelConfig)  # the same keys, their own defaults
        assert config_class.__dataclass_fields__.keys() == ToyModelConfig.__dataclass_fields__.keys()
        assert config_class().pair_steps == pair_steps[family]
        assert toy_pretraining(family).keywords == {"family": family}
    assert toy_model_config_class("t5") is ToyT5Config
    with pytest.raises(ValueError, match="no toy model"):
        toy_pretraining("gpt")


@pytest.mark.parametrize("family", FAMILIES)
def test_model_source_toy_is_accepted_and_its_keys_checked_per_family(family):
    pytest.importorskip("snakemake.utils")
    from snakemake.utils import validate

    from subnets.study import ConfigError, Study

    config = yaml.safe_load((REPO / "config" / "micro.yaml").read_text())
    config["model"]["family"] = family
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    assert Study.from_config(config).use_toy_model
    config["toy"]["model"]["d_model"] = 64  # a key of the toy mT5
    with pytest.raises(ConfigError, match=rf"toy\.model \(model\.family {family}\).*d_model"):
        Study.from_config(config)


def test_family_tokenizer_of_bert_is_the_toy_tokenizer(world):
    assert family_tokenizer("bert", world / "tokenizer").get_vocab() == _tokenizer(world / "tokenizer").get_vocab()
