"""Model families beyond mBERT and mT5 (issue 18): XLM-R (``xlmr``) and decoder-only models (``decoder``:
Llama-style and BLOOM), on tiny random models built from transformers configs (no downloads)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import datasets
import pytest
import torch
import yaml

from subnets import masks
from subnets.retrieval import embed_sentences, last_token_states, sentence_token
from subnets.tasks import TASKS, get_task
from subnets.theta0 import build_task_model, model_family, snapshot_pretrained
from subnets.toy.tokenizer import wordpiece_tokenizer
from subnets.training import TrainingConfig, train_masked

REPO = Path(__file__).resolve().parents[1]
WORDS = ("the a cat dog sat ran on mat house red blue big small Paris Berlin Anna Bob went to saw and is not "
         "le chat chien maison rouge bleu grand petit va voit est pas").split()  # fmt: skip
SENTENCES = ["the cat sat on the mat", "Anna went to Paris", "the big red dog ran", "Bob is not small"]
KINDS = ("xlmr", "llama", "qwen2", "bloom")
FAMILY = {"xlmr": "xlmr", "llama": "decoder", "qwen2": "decoder", "bloom": "decoder"}


def _tokenizer(decoder: bool, with_pad: bool = True):
    """A fast WordPiece tokenizer over WORDS with the model inputs of XLM-R and the decoders (no token type
    ids); for a decoder [SEP] doubles as end of sequence, and ``with_pad=False`` drops the pad token (Llama)."""
    from transformers import PreTrainedTokenizerFast

    backend = wordpiece_tokenizer(WORDS).backend_tokenizer
    special = {"unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]"}
    if with_pad:
        special["pad_token"] = "[PAD]"
    if decoder:
        special["eos_token"] = "[SEP]"
    return PreTrainedTokenizerFast(tokenizer_object=backend, model_input_names=["input_ids", "attention_mask"],
                                   **special)  # fmt: skip


def _model(kind: str, vocab_size: int, pad_token_id: int | None):
    import transformers as T

    common = {"vocab_size": vocab_size, "pad_token_id": pad_token_id}
    if kind == "xlmr":
        config = T.XLMRobertaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                    intermediate_size=64, max_position_embeddings=130, **common)  # fmt: skip
        return T.XLMRobertaForMaskedLM(config)
    if kind == "bloom":
        return T.BloomForCausalLM(T.BloomConfig(hidden_size=32, n_layer=2, n_head=2, **common))
    config_class, model_class = {"llama": (T.LlamaConfig, T.LlamaForCausalLM),
                                 "qwen2": (T.Qwen2Config, T.Qwen2ForCausalLM)}[kind]  # fmt: skip
    config = config_class(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                          num_key_value_heads=2, max_position_embeddings=128, **common)  # fmt: skip
    return model_class(config)


def save_tiny(path: Path, kind: str, *, with_pad: bool = True) -> Path:
    tokenizer = _tokenizer(FAMILY[kind] == "decoder", with_pad)
    torch.manual_seed(0)
    _model(kind, len(tokenizer), tokenizer.pad_token_id).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module", params=KINDS)
def tiny(request, tmp_path_factory):
    """(kind, theta0's snapshot directory) of a tiny random model of each kind."""
    root = tmp_path_factory.mktemp(request.param)
    source = save_tiny(root / "source", request.param)
    return request.param, snapshot_pretrained(source, root / "snapshot", FAMILY[request.param])


def _tokenizer_of(path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


# ------------------------------------------------------------------------------------ prunable weights


PER_LAYER = {"xlmr": 6, "llama": 7, "qwen2": 7, "bloom": 4}


@pytest.mark.parametrize("task_name", ["mlm", "ner", "nli"])
def test_prunable_weights_per_family_are_the_layer_matrices_in_model_order(tiny, task_name):
    kind, path = tiny
    family = FAMILY[kind]
    assert model_family(path) == family
    model = build_task_model(path, get_task(task_name, family), seed=0)
    assert masks.infer_family(model) == family
    prunable = masks.prunable_parameters(model, family)
    pooler = [name for name in prunable if ".pooler." in name]
    assert len(prunable) == 2 * PER_LAYER[kind] + len(pooler)
    for name, tensor in prunable.items():
        assert name.endswith(".weight") and tensor.dim() == 2, name
    excluded = ("embed", "norm", "bias", "lm_head", "score", "classifier", "word_embeddings", "LayerNorm")
    assert not [name for name in prunable if any(part in name for part in excluded)]
    # what is excluded really is in the model: embeddings, norms and the task head
    others = [name for name, _ in model.named_parameters() if name not in prunable]
    assert any("embed" in name for name in others) and any("norm" in name.lower() for name in others)
    head = {"mlm": ("lm_head",), "ner": ("classifier", "score"), "nli": ("classifier", "score")}[task_name]
    tied = task_name == "mlm" and model.config.tie_word_embeddings  # the LM head is the embedding matrix
    assert any(name.startswith(head) for name in others) or tied
    layers = [masks.layer_of(name) for name in prunable]
    in_model_order = list(dict.fromkeys(layers))
    assert sorted(set(layers), key=masks.layer_sort_key) == in_model_order
    assert in_model_order[:2] == ["0", "1"]
    mask = masks.random_mask(masks.prunable_shapes(model, family), 0.5, seed=0)
    assert list(masks.jaccard_by_layer([mask, mask])) == [*in_model_order, "all"]


def test_bare_bodies_and_the_xlmr_pooler_are_matched_without_the_task_prefix(tmp_path):
    from transformers import AutoModel

    body = AutoModel.from_pretrained(save_tiny(tmp_path / "x", "xlmr"))  # XLMRobertaModel: with a pooler
    prunable = masks.prunable_parameters(body, "xlmr")
    assert "pooler.dense.weight" in prunable and "encoder.layer.0.attention.self.query.weight" in prunable
    assert sorted({masks.layer_of(n) for n in prunable}, key=masks.layer_sort_key) == ["0", "1", "pooler"]
    llama = AutoModel.from_pretrained(save_tiny(tmp_path / "l", "llama"))
    assert "layers.1.mlp.gate_proj.weight" in masks.prunable_parameters(llama, "decoder")


def test_model_types_map_to_families_and_bert_t5_are_unchanged():
    for model_type, family in {"xlm-roberta": "xlmr", "roberta": "xlmr", "llama": "decoder", "qwen2": "decoder",
                               "mistral": "decoder", "gemma": "decoder", "bloom": "decoder", "bert": "bert",
                               "t5": "t5", "mt5": "t5"}.items():  # fmt: skip
        assert masks.MODEL_TYPE_FAMILIES[model_type] == family
        assert family in TASKS and family in masks.PRUNABLE_PATTERNS
    assert masks.layer_of("bert.encoder.layer.3.output.dense.weight") == "3"
    assert masks.layer_of("model.layers.11.self_attn.o_proj.weight") == "11"
    assert masks.layer_of("transformer.h.2.self_attention.query_key_value.weight") == "2"
    assert masks.layer_of("roberta.pooler.dense.weight") == "pooler"
    never = ["model.embed_tokens.weight", "model.norm.weight", "model.layers.0.input_layernorm.weight",
             "model.layers.0.self_attn.q_proj.bias", "lm_head.weight", "score.weight", "classifier.weight",
             "transformer.word_embeddings.weight", "transformer.h.0.self_attention.query_key_value.bias",
             "roberta.embeddings.word_embeddings.weight", "roberta.encoder.layer.0.output.LayerNorm.weight",
             "classifier.dense.weight", "lm_head.dense.weight"]  # fmt: skip
    for name in never:
        for family in ("xlmr", "decoder"):
            named = {name: torch.zeros(2, 2), **_one(family)}
            assert masks.prunable_parameters(named, family).keys() == _one(family).keys()


def _one(family: str) -> dict:
    name = {"xlmr": "roberta.encoder.layer.0.intermediate.dense.weight",
            "decoder": "model.layers.0.mlp.down_proj.weight"}[family]  # fmt: skip
    return {name: torch.zeros(2, 2)}


# -------------------------------------------------------------------------------- snapshot and padding


def test_a_decoder_without_a_pad_token_pads_with_eos_on_the_right(tmp_path):
    source = save_tiny(tmp_path / "source", "llama", with_pad=False)
    assert _tokenizer_of(source).pad_token is None
    snapshot = snapshot_pretrained(source, tmp_path / "snapshot", "decoder")
    tokenizer = _tokenizer_of(snapshot)
    assert tokenizer.pad_token == tokenizer.eos_token == "[SEP]" and tokenizer.padding_side == "right"
    assert json.loads((snapshot / "config.json").read_text())["pad_token_id"] == tokenizer.eos_token_id
    info = json.loads((snapshot / "snapshot.json").read_text())
    assert info["pad_token"] == "[SEP]" and info["padding_side"] == "right"
    assert info["model_class"] == "LlamaForCausalLM"
    nli = build_task_model(snapshot, get_task("nli", "decoder"), seed=0)
    assert nli.config.pad_token_id == tokenizer.eos_token_id


# ------------------------------------------------------------------------------------------------ tasks


def _raw(task_name: str) -> datasets.Dataset:
    if task_name == "mlm":
        return datasets.Dataset.from_dict({"text": [" ".join(SENTENCES * 3), "the cat sat", " ".join(SENTENCES)]})
    if task_name == "ner":
        return datasets.Dataset.from_dict({
            "tokens": [s.split() for s in SENTENCES],
            "ner_tags": [[0, 0, 0, 0, 0, 0], [1, 0, 0, 5], [0, 0, 0, 0, 0], [1, 0, 0, 0]],
        })  # fmt: skip
    return datasets.Dataset.from_dict(
        {"premise": SENTENCES, "hypothesis": SENTENCES[::-1], "label": [0, 1, 2, 0]}
    )


@pytest.mark.parametrize("task_name", ["mlm", "ner", "nli"])
def test_each_task_scores_a_tiny_random_model_with_a_finite_metric(tiny, task_name):
    kind, path = tiny
    task = get_task(task_name, FAMILY[kind], **({"min_tail_fraction": 0} if task_name == "mlm" else {}))
    tokenizer = _tokenizer_of(path)
    rows = task.tokenize(_raw(task_name), tokenizer, max_length=32, split="validation", seed=0)
    assert "token_type_ids" not in rows.column_names
    assert len({len(ids) for ids in rows["input_ids"]}) > 1  # the batch really is padded
    batch = task.eval_collator(tokenizer)(list(rows))
    model = build_task_model(path, task, seed=0).eval()
    metric = task.new_metric()
    with torch.no_grad():
        metric.add(task.eval_scores(model, batch), batch["labels"])
    value = metric.compute()
    assert math.isfinite(value)
    if task_name == "mlm":
        assert value > 1.0
    else:
        assert 0.0 <= value <= 100.0


def test_causal_lm_blocks_and_labels():
    from subnets.tasks.decoder import CausalPerplexity

    tokenizer = _tokenizer(decoder=True)
    task = get_task("mlm", "decoder", min_tail_fraction=0)
    rows = task.tokenize(_raw("mlm"), tokenizer, max_length=8, split="train", seed=0)
    assert max(len(ids) for ids in rows["input_ids"]) == 8
    batch = task.train_collator(tokenizer)(list(rows)[:3])
    assert (batch["labels"][batch["attention_mask"] == 0] == -100).all()
    real = batch["attention_mask"] == 1
    assert torch.equal(batch["labels"][real], batch["input_ids"][real])
    # next-token scoring: a model that puts all mass on the next token has perplexity 1
    labels = torch.tensor([[4, 5, 6, -100]])
    logits = torch.full((1, 4, 10), -1e4)
    for t, nxt in enumerate([5, 6]):
        logits[0, t, nxt] = 0.0
    metric = CausalPerplexity()
    metric.add(logits, labels)
    assert metric.compute() == pytest.approx(1.0) and metric.count == 2


@pytest.mark.parametrize("task_name", ["mlm", "nli"])
def test_masked_training_keeps_pruned_weights_at_zero(tiny, task_name):
    kind, path = tiny
    family = FAMILY[kind]
    if family == "xlmr" and task_name == "mlm":
        task_name = "ner"  # BERT's masked LM is tested with mBERT; two tiny batches may mask no token at all
    task = get_task(task_name, family, **({"min_tail_fraction": 0} if task_name == "mlm" else {}))
    tokenizer = _tokenizer_of(path)
    model = build_task_model(path, task, seed=0)
    mask = masks.random_mask(masks.prunable_shapes(model, family), 0.5, seed=1)
    rows = task.tokenize(_raw(task_name), tokenizer, max_length=16, split="train", seed=0)
    config = TrainingConfig(learning_rate=1e-2, batch_size=2, max_steps=2, eval_every=2, seed=0)
    result = train_masked(model, task, tokenizer, rows, rows, config, mask, progress=False)
    assert math.isfinite(result.peak_metric)
    for name, kept in mask.items():
        assert not result.final_state[name][~kept].any(), name
        assert result.final_state[name][kept].any(), name


# ---------------------------------------------------------------------------------------------- probes


def test_the_sentence_token_depends_on_the_family(tiny):
    from transformers import AutoModel

    kind, path = tiny
    body = AutoModel.from_pretrained(path).eval()
    tokenizer = _tokenizer_of(path)
    assert sentence_token(body) == ("last" if FAMILY[kind] == "decoder" else "first")
    vectors = embed_sentences(body, tokenizer, SENTENCES, batch_size=4, cls=True)  # one padded batch
    means = embed_sentences(body, tokenizer, SENTENCES, batch_size=4)
    assert vectors.shape == means.shape == (3, len(SENTENCES), 32)
    with torch.no_grad():
        for i, sentence in enumerate(SENTENCES):  # each alone, unpadded
            states = body(**tokenizer(sentence, return_tensors="pt"), output_hidden_states=True).hidden_states
            position = -1 if FAMILY[kind] == "decoder" else 0
            alone = torch.stack([layer[0, position] for layer in states]).numpy()
            assert torch.allclose(torch.from_numpy(vectors[:, i]), torch.from_numpy(alone), atol=1e-5), i
            mean = torch.stack([layer[0].mean(dim=0) for layer in states]).numpy()
            assert torch.allclose(torch.from_numpy(means[:, i]), torch.from_numpy(mean), atol=1e-5), i


def test_last_token_states_with_left_or_right_padding():
    states = [torch.arange(2 * 4 * 3, dtype=torch.float32).view(2, 4, 3)]
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert torch.equal(last_token_states(states, right)[0], torch.stack([states[0][0, 1], states[0][1, 3]]))
    assert torch.equal(last_token_states(states, left)[0], torch.stack([states[0][0, 3], states[0][1, 3]]))


# ---------------------------------------------------------------------------------------------- configs


@pytest.mark.parametrize("name, family", [("xlmr", "xlmr"), ("decoder", "decoder")])
def test_the_paper_scale_configs_build_a_study(name, family):
    pytest.importorskip("snakemake.utils")
    from subnets.study import Study
    from snakemake.utils import validate

    config = yaml.safe_load((REPO / "config" / f"{name}.yaml").read_text())
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    study = Study.from_config(config)
    assert study.family == family and set(study.tasks) == {"mlm", "ner", "nli"}
