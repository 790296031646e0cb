"""The mT5 path: span corruption, the tiny mT5 pre-trained on a micro toy world, XNLI as text to text with
constrained decoding, and masked training of an encoder-decoder."""

from __future__ import annotations

import json
import shutil

import datasets
import pytest
import torch

from subnets import masks
from subnets.tasks import NLI_LABELS, NLITextToTextTask, get_task
from subnets.tasks.nli import ExactMatch
from subnets.theta0 import build_task_model, model_family
from subnets.toy import WorldConfig, write_world
from subnets.toy.pretrain import sentence_pairs
from subnets.toy.pretrain_t5 import (
    SENTINELS,
    SpanCorruptionCollator,
    ToyT5Config,
    corrupt_spans,
    pretrain_toy_t5,
    t5_tokenizer,
    whole_pair,
)
from subnets.toy.tokenizer import train_tokenizer, world_texts
from subnets.training import TrainingConfig, train_masked

MICRO_WORLD = WorldConfig(
    seed=0,
    languages=2,
    mlm_train_docs=300,
    mlm_validation_docs=30,
    ner_train=20,
    ner_validation=10,
    ner_test=10,
    nli_train=60,
    nli_validation=30,
    nli_test=30,
    parallel_size=10,
    parallel_nli_size=10,
)
MICRO_T5 = {
    "d_model": 32,
    "num_layers": 2,
    "num_decoder_layers": 2,
    "num_heads": 2,
    "d_ff": 64,
    "max_length": 32,
    "pair_steps": 20,
    "pair_share": 0.2,
    "training": {"max_steps": 200, "eval_every": 100, "batch_size": 32, "warmup_steps": 20, "learning_rate": 3e-3},
}


@pytest.fixture(scope="module")
def toy_t5(tmp_path_factory):
    """The micro world (NLI files included, for the NLI tests) and the tiny mT5 pre-trained on a copy of it
    without its NLI files: pre-training must not need them."""
    root = tmp_path_factory.mktemp("toy_t5")
    write_world(root / "world", MICRO_WORLD)
    train_tokenizer(world_texts(root / "world"), root / "tokenizer", vocab_size=400)
    shutil.copytree(root / "world", root / "world_without_nli", ignore=shutil.ignore_patterns("nli", "parallel_nli"))
    assert not any((root / "world_without_nli" / name).exists() for name in ("nli", "parallel_nli"))
    metrics = pretrain_toy_t5(
        root / "world_without_nli", root / "tokenizer", root / "model", ToyT5Config.from_dict(MICRO_T5), progress=False
    )
    return root, metrics


def nli_rows(world_dir, lang: str, split: str) -> datasets.Dataset:
    return datasets.load_dataset("json", data_files=str(world_dir / f"nli/{lang}/{split}.jsonl"), split="train")


# ------------------------------------------------------------------------------------------ span corruption


def test_span_corruption_hides_spans_that_the_target_restores():
    ids = [2] + list(range(100, 140)) + [3]
    sentinels = list(range(50, 50 + len(SENTINELS)))
    generator = torch.Generator().manual_seed(0)
    inputs, targets = corrupt_spans(
        ids, noise_density=0.15, mean_span_length=3.0, sentinel_ids=sentinels, eos_id=3, generator=generator
    )
    assert inputs[0] == 2 and inputs[-1] == 3 and targets[-1] == 3
    used = [token for token in inputs if token in sentinels]
    assert used == sentinels[: len(used)] and len(used) == 2  # round(6 noise tokens / 3)
    # Putting each sentinel's span back gives the original block.
    spans, current = {}, None
    for token in targets[:-1]:
        if token in sentinels:
            current = spans.setdefault(token, [])
        else:
            current.append(token)
    restored = [piece for token in inputs for piece in (spans[token] if token in sentinels else [token])]
    assert restored == ids
    assert sum(map(len, spans.values())) == 6 and all(spans.values())


def test_span_corruption_is_reproducible_from_its_generator():
    ids = [2] + list(range(100, 160)) + [3]
    draw = lambda seed: corrupt_spans(  # noqa: E731
        ids, noise_density=0.15, mean_span_length=3.0, sentinel_ids=list(range(16)), eos_id=3,
        generator=torch.Generator().manual_seed(seed),
    )  # fmt: skip
    assert draw(1) == draw(1)
    assert draw(1) != draw(2)


def test_pair_rows_are_read_whole_and_score_their_matches():
    cls, sep, a, b = 2, 3, [100, 101, 102, 103, 104, 105], [100, 101, 200, 102, 103, 104, 201, 105]
    ids = [cls, *a, sep, *b, sep]
    marks = {"separator_id": sep, "match_ignored": [cls, sep]}
    inputs, targets, matches = whole_pair(ids, **marks)
    assert inputs == ids  # as NLI reads a pair: no sentinel marks the second segment
    assert targets == [-100]  # nothing to decode: pairs train the match alone
    assert len(matches) == len(inputs) and all(m == -100 for m in matches[: len(a) + 2])
    assert matches[len(a) + 2 :] == [1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, -100]
    # With a summary target: how many tokens of b a lacks (here two: 200 and 201), capped at the last count.
    counts = ([60, 61, 62, 63], sep)
    assert whole_pair(ids, **marks, summary=counts)[1] == [62, sep]
    same, other = [cls, *a, sep, *a, sep], [cls, *a, sep, 200, 201, 202, 203, 204, sep]
    assert whole_pair(same, **marks, summary=counts)[1] == [60, sep]
    assert whole_pair(other, **marks, summary=counts)[1] == [63, sep]


def test_the_collator_reads_pairs_whole_corrupts_blocks_and_labels_matches_of_pairs_only(toy_t5):
    root, _ = toy_t5
    tokenizer = t5_tokenizer(root / "tokenizer")
    a, b = sentence_pairs([["Anna saw Lima. Bo ran in Oslo."]], 1, seed=0)[0]
    pair = tokenizer(a, b)["input_ids"]
    block = tokenizer(a + " " + b)["input_ids"]
    torch.manual_seed(0)
    batch = SpanCorruptionCollator(tokenizer, 0.15, 3.0, match=True)([{"input_ids": pair}, {"input_ids": block}])
    assert set(batch) == {"input_ids", "attention_mask", "labels", "match_labels"}
    assert batch["input_ids"][0][: len(pair)].tolist() == pair and (batch["labels"][0] == -100).all()
    assert set(tokenizer.convert_tokens_to_ids(list(SENTINELS))) & set(batch["input_ids"][1].tolist())
    assert batch["match_labels"].shape == batch["input_ids"].shape
    assert (batch["match_labels"][1] == -100).all()  # a single block has nothing to match
    assert (batch["match_labels"][0][: pair.index(tokenizer.sep_token_id) + 1] == -100).all()
    assert (batch["match_labels"][0] != -100).any()
    assert "match_labels" not in SpanCorruptionCollator(tokenizer, 0.15, 3.0)([{"input_ids": pair}])


# --------------------------------------------------------------------------------- pre-trained tiny mT5


def test_toy_t5_pretraining_beats_the_unigram_baseline(toy_t5):
    root, metrics = toy_t5
    assert metrics["perplexity"] < 0.5 * metrics["unigram_perplexity"], metrics
    assert metrics["eval_curve"][-1]["metric"] < metrics["eval_curve"][0]["metric"]
    assert json.loads((root / "model/pretraining.json").read_text())["perplexity"] == metrics["perplexity"]
    assert model_family(root / "model") == "t5"


def test_toy_t5_pretraining_runs_the_pair_phase_then_documents_with_pairs(toy_t5):
    _, metrics = toy_t5
    # The match head is scored on held-out pairs read whole, as NLI sentences are (at the demo's scale it reaches
    # 94%, BENCHMARKS.md; 20 micro steps teach it little).
    assert metrics["warmup_pairs"] == 20 * 32
    assert metrics["train_pairs"] == round(metrics["train_blocks"] * 0.2 / 0.8)
    assert 0 < metrics["match_majority"] < 1 and 0 < metrics["match_accuracy"] < 1
    assert (ToyT5Config().pair_steps, ToyT5Config().pair_share, ToyT5Config().pair_summary) == (800, 0.2, True)


def test_toy_t5_pretraining_is_deterministic(toy_t5, tmp_path):
    root, _ = toy_t5
    tiny = {**MICRO_T5, "pair_steps": 3, "training": {**MICRO_T5["training"], "max_steps": 3, "eval_every": 3}}
    for name in ("a", "b"):
        pretrain_toy_t5(
            root / "world_without_nli", root / "tokenizer", tmp_path / name, ToyT5Config.from_dict(tiny), progress=False
        )
    for file in ("model.safetensors", "pretraining.json"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes(), file


def test_toy_t5_dropout_is_saved_with_the_checkpoint(toy_t5, tmp_path):
    root, _ = toy_t5
    tiny = {**MICRO_T5, "dropout_rate": 0.1, "training": {**MICRO_T5["training"], "max_steps": 2, "eval_every": 2}}
    config = ToyT5Config.from_dict(tiny)
    pretrain_toy_t5(root / "world_without_nli", root / "tokenizer", tmp_path, config, progress=False)
    assert json.loads((tmp_path / "config.json").read_text())["dropout_rate"] == 0.1  # fine-tuning reads it there
    assert ToyT5Config().dropout_rate == 0.0  # the toy's: with mT5's 0.1 the match head did not learn
    with pytest.raises(ValueError, match="dropout_rate"):
        ToyT5Config(dropout_rate=1.0)


def test_toy_t5_tokenizer_has_prompt_label_and_sentinel_tokens(toy_t5):
    root, _ = toy_t5
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(root / "model")
    assert tokenizer.model_input_names == ["input_ids", "attention_mask"]
    for word in NLI_LABELS + ("xnli", "premise", "hypothesis"):
        assert len(tokenizer(word, add_special_tokens=False)["input_ids"]) == 1, word
    assert tokenizer.unk_token_id not in tokenizer("xnli premise: hypothesis:")["input_ids"]
    assert tokenizer.convert_tokens_to_ids(list(SENTINELS)) == sorted(set(tokenizer.convert_tokens_to_ids(list(SENTINELS))))
    assert tokenizer.eos_token == "[SEP]"
    # Extending the toy tokenizer is deterministic: the same tokens get the same ids.
    assert t5_tokenizer(root / "tokenizer").get_vocab() == tokenizer.get_vocab()


# --------------------------------------------------------------------------------------- XNLI as text to text


def test_family_picks_the_task_adapter():
    assert isinstance(get_task("nli", "t5"), NLITextToTextTask)
    assert not isinstance(get_task("nli"), NLITextToTextTask)
    with pytest.raises(ValueError, match="unknown task 'ner' for model family 't5'"):
        get_task("ner", "t5")
    with pytest.raises(ValueError, match="unknown model family"):
        get_task("nli", "gpt")


def test_text_to_text_rows_hold_the_prompt_and_the_label_word(toy_t5):
    root, _ = toy_t5
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(root / "model")
    task = get_task("nli", "t5")
    raw = nli_rows(root / "world", "t0", "validation")
    rows = task.tokenize(raw, tokenizer, max_length=64, split="validation", seed=0)
    assert rows.column_names == ["input_ids", "attention_mask", "labels"]
    first = tokenizer.decode(rows[0]["input_ids"], skip_special_tokens=True)
    assert first.startswith("xnli premise :") and "hypothesis :" in first
    for row, label in zip(rows, raw["label"]):
        assert tokenizer.decode(row["labels"][:-1]) == NLI_LABELS[label]
        assert row["labels"][-1] == tokenizer.eos_token_id


def test_constrained_decoding_picks_the_most_likely_label_word(toy_t5):
    root, _ = toy_t5
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(root / "model")
    task = get_task("nli", "t5")
    model = build_task_model(root / "model", task, seed=0).eval()
    rows = task.tokenize(nli_rows(root / "world", "t0", "validation"), tokenizer, max_length=64, split="v", seed=0)
    batch = task.eval_collator(tokenizer)([rows[i] for i in range(6)])
    with torch.no_grad():
        predicted = task.eval_scores(model, batch)
        # The direct way: the log-likelihood of each label word's target, row by row.
        for i in range(6):
            likelihoods = []
            for target in task.label_targets(tokenizer):
                labels = torch.tensor([target])
                out = model(input_ids=batch["input_ids"][i : i + 1], attention_mask=batch["attention_mask"][i : i + 1],
                            labels=labels)  # fmt: skip
                likelihoods.append(-out.loss.item() * len(target))
            best = task.label_targets(tokenizer)[max(range(3), key=likelihoods.__getitem__)]
            assert [t for t in predicted[i].tolist() if t != -100] == best


def test_exact_match_counts_whole_sequences():
    metric = ExactMatch()
    metric.add(torch.tensor([[5, 3, -100], [6, 7, 3]]), torch.tensor([[5, 3, -100], [6, 3, -100]]))
    metric.add(torch.tensor([[8, 3]]), torch.tensor([[8, 3]]))
    assert metric.compute() == pytest.approx(200 / 3)


def test_masked_text_to_text_training_keeps_pruned_weights_zero(toy_t5):
    root, _ = toy_t5
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(root / "model")
    task = get_task("nli", "t5")
    model = build_task_model(root / "model", task, seed=0)
    prunable = masks.prunable_parameters(model, masks.infer_family(model))
    assert any(".EncDecAttention." in name for name in prunable)
    assert any(name.startswith("decoder.") for name in prunable)
    mask = masks.magnitude_prune(prunable, None, 0.5)
    train = task.tokenize(nli_rows(root / "world", "t0", "train"), tokenizer, max_length=64, split="train", seed=0)
    valid = task.tokenize(nli_rows(root / "world", "t0", "validation"), tokenizer, max_length=64, split="v", seed=0)
    config = TrainingConfig(learning_rate=1e-3, batch_size=16, max_steps=6, eval_every=3, seed=0)
    result = train_masked(model, task, tokenizer, train, valid, config, mask, progress=False)
    assert [point["step"] for point in result.eval_curve] == [3, 6]
    assert all(0 <= point["metric"] <= 100 for point in result.eval_curve)
    for name, kept in mask.items():
        assert not result.peak_state[name][~kept].any(), name


def test_a_snapshot_of_the_wrong_family_is_refused_before_anything_is_written(tiny_bert_dir, tmp_path):
    from subnets.theta0 import snapshot_pretrained

    assert model_family(tiny_bert_dir) == "bert"
    with pytest.raises(ValueError, match="model_type 'bert' is not of model family 't5'"):
        snapshot_pretrained(tiny_bert_dir, tmp_path / "snapshot", family="t5")
    assert not (tmp_path / "snapshot").exists()
    snapshot_pretrained(tiny_bert_dir, tmp_path / "snapshot", family="bert")
    assert model_family(tmp_path / "snapshot") == "bert"


def test_snapshot_of_a_local_mt5_keeps_weights_and_tokenizer(toy_t5, tmp_path):
    """What `prepare_model` does with google/mt5-base, on the toy mT5: the encoder-decoder is loaded as one."""
    from transformers import AutoTokenizer

    from subnets.theta0 import fingerprint, snapshot_pretrained

    root, _ = toy_t5
    snapshot_pretrained(root / "model", tmp_path / "snapshot", family="t5")
    task = get_task("nli", "t5")
    original, copy = (build_task_model(path, task, seed=0) for path in (root / "model", tmp_path / "snapshot"))
    assert fingerprint(original) == fingerprint(copy)
    assert AutoTokenizer.from_pretrained(tmp_path / "snapshot").get_vocab() == t5_tokenizer(root / "tokenizer").get_vocab()
