"""Task adapters: label alignment, eval masking, metrics, collators and schema checks."""

from __future__ import annotations

import math

import datasets
import pytest
import torch
import torch.nn.functional as F
from seqeval.metrics import f1_score
from transformers import AutoTokenizer

from subnets.tasks import NER_LABELS, get_task
from subnets.tasks.mlm import split_into_blocks


@pytest.fixture(scope="module")
def tokenizer(tiny_bert_dir):
    return AutoTokenizer.from_pretrained(tiny_bert_dir)


def ner_rows(tokens, tags):
    return datasets.Dataset.from_dict({"tokens": tokens, "ner_tags": tags})


# ------------------------------------------------------------------------------------------------ registry


def test_get_task_names_and_metrics():
    assert [(t.name, t.metric_name, t.higher_is_better) for t in map(get_task, ["mlm", "ner", "nli"])] == [
        ("mlm", "perplexity", False),
        ("ner", "f1", True),
        ("nli", "accuracy", True),
    ]
    with pytest.raises(ValueError, match="known tasks: mlm, ner, nli"):
        get_task("pos")


def test_model_classes_and_kwargs():
    from transformers import (
        AutoModelForMaskedLM,
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
    )

    assert get_task("mlm").model_class() is AutoModelForMaskedLM
    assert get_task("ner").model_class() is AutoModelForTokenClassification
    assert get_task("nli").model_class() is AutoModelForSequenceClassification
    assert get_task("mlm").model_kwargs() == {}
    ner = get_task("ner").model_kwargs()
    assert ner["num_labels"] == 7 and ner["id2label"][5] == "B-LOC" and ner["label2id"]["I-ORG"] == 4
    assert get_task("nli").model_kwargs()["id2label"] == {0: "entailment", 1: "neutral", 2: "contradiction"}


# ------------------------------------------------------------------------------------------------ NER


def test_ner_labels_on_first_subtoken_only(tokenizer):
    raw = ner_rows([["anna", "sees", "cats", "in", "paris"], ["acme", "dogs"]], [[1, 0, 0, 0, 5], [3, 4]])
    out = get_task("ner").tokenize(raw, tokenizer, max_length=32, split="train", seed=0)
    assert set(out.column_names) == {"input_ids", "attention_mask", "token_type_ids", "labels"}
    first = out[0]
    assert tokenizer.convert_ids_to_tokens(first["input_ids"]) == [
        "[CLS]",
        "anna",
        "sees",
        "cat",
        "##s",
        "in",
        "paris",
        "[SEP]",
    ]
    assert first["labels"] == [-100, 1, 0, 0, -100, 0, 5, -100]
    assert out[1]["labels"] == [-100, 3, 4, -100, -100]  # "dogs" -> dog ##s: I-ORG on "dog" only


def test_ner_truncation_keeps_labels_aligned(tokenizer):
    raw = ner_rows([["anna", "sees", "cats", "in", "paris"]], [[1, 0, 0, 0, 5]])
    row = get_task("ner").tokenize(raw, tokenizer, max_length=5, split="train", seed=0)[0]
    assert len(row["input_ids"]) == len(row["labels"]) == 5
    assert row["labels"] == [-100, 1, 0, 0, -100]


def test_ner_collator_pads_labels_with_ignore_index(tokenizer):
    task = get_task("ner")
    raw = ner_rows([["anna"], ["anna", "sees", "cats"]], [[1], [1, 0, 0]])
    out = task.tokenize(raw, tokenizer, max_length=32, split="train", seed=0)
    batch = task.train_collator(tokenizer)([out[0], out[1]])
    assert batch["input_ids"].shape == batch["labels"].shape == (2, 6)
    assert batch["input_ids"].dtype == batch["labels"].dtype == torch.long
    assert batch["labels"][0].tolist() == [-100, 1, -100, -100, -100, -100]
    assert batch["attention_mask"][0].tolist() == [1, 1, 1, 0, 0, 0]


def logits_for(predictions: list[list[int]], n_classes: int) -> torch.Tensor:
    """Logits whose arg-max along the last axis is ``predictions``."""
    return F.one_hot(torch.tensor(predictions), n_classes).float() * 5.0 - 1.0


def test_ner_metric_matches_seqeval_and_is_in_percent():
    labels_1 = torch.tensor([[-100, 1, 2, -100, 0, 5, -100], [-100, 3, 4, 0, -100, -100, -100]])
    preds_1 = [[0, 1, 0, 6, 0, 5, 0], [0, 3, 4, 5, 0, 0, 0]]
    labels_2 = torch.tensor([[-100, 5, 6, 0, -100]])  # another batch, another padded length
    preds_2 = [[0, 5, 6, 0, 1]]
    task = get_task("ner")
    metric = task.new_metric()
    metric.add(logits_for(preds_1, 7), labels_1)
    metric.add(logits_for(preds_2, 7).to(torch.bfloat16), labels_2)

    def tags(ids, gold):
        return [NER_LABELS[i] for i, g in zip(ids, gold) if g != -100]

    gold = [tags(g, g) for g in labels_1.tolist() + labels_2.tolist()]
    predicted = [tags(p, g) for p, g in zip(preds_1 + preds_2, labels_1.tolist() + labels_2.tolist())]
    expected = 100 * f1_score(gold, predicted)
    assert 0 < expected < 100
    assert metric.compute() == pytest.approx(expected)

    perfect = task.new_metric()
    perfect.add(logits_for(labels_1.clamp(min=0).tolist(), 7), labels_1)
    assert perfect.compute() == pytest.approx(100.0)
    with pytest.raises(ValueError):
        task.new_metric().compute()


@pytest.mark.parametrize(
    "rows, problem",
    [
        ({"tokens": [["a"]]}, "missing column"),
        ({"tokens": [["a", "b"]], "ner_tags": [[0, 7]]}, "7 is outside 0..6"),
        ({"tokens": [["a", "b"]], "ner_tags": [[-1, 0]]}, "-1 is outside 0..6"),
        ({"tokens": [["a"], ["a", "b"]], "ner_tags": [[0], [0]]}, "row 1: 2 tokens but 1 ner_tags"),
        ({"tokens": [["a"]], "ner_tags": [["B-PER"]]}, "lists of integers"),
        ({"tokens": [], "ner_tags": []}, "empty"),
    ],
)
def test_ner_check_raw_errors(rows, problem):
    with pytest.raises(ValueError, match=problem) as error:
        get_task("ner").check_raw(datasets.Dataset.from_dict(rows), "my-source", "validation")
    assert "my-source" in str(error.value) and "validation" in str(error.value)


def test_ner_check_raw_reports_the_row_of_a_bad_tag():
    rows = {"tokens": [["a"], ["a", "b"], ["c"]], "ner_tags": [[0], [0, 1], [9]]}
    with pytest.raises(ValueError, match="row 2: ner_tag 9"):
        get_task("ner").check_raw(datasets.Dataset.from_dict(rows), "src", "train")


def test_ner_check_raw_rejects_other_label_names():
    features = datasets.Features(
        {
            "tokens": datasets.List(datasets.Value("string")),
            "ner_tags": datasets.List(datasets.ClassLabel(names=list("OABCDEF"))),
        }
    )
    dataset = datasets.Dataset.from_dict({"tokens": [["a"]], "ner_tags": [[0]]}, features=features)
    with pytest.raises(ValueError, match="label names"):
        get_task("ner").check_raw(dataset, "src", "train")


# ------------------------------------------------------------------------------------------------ NLI


def test_nli_tokenize_pairs_with_token_types(tokenizer):
    raw = datasets.Dataset.from_dict({"premise": ["anna sees the cat"], "hypothesis": ["bob sees a dog"], "label": [2]})
    row = get_task("nli").tokenize(raw, tokenizer, max_length=32, split="train", seed=0)[0]
    assert row["labels"] == 2
    assert row["token_type_ids"] == [0] * 6 + [1] * 5
    short = get_task("nli").tokenize(raw, tokenizer, max_length=7, split="train", seed=0)[0]
    assert len(short["input_ids"]) == 7


def test_nli_collator_and_accuracy(tokenizer):
    task = get_task("nli")
    raw = datasets.Dataset.from_dict(
        {"premise": ["anna", "the cat sees bob"], "hypothesis": ["bob", "a dog"], "label": [0, 1]}
    )
    out = task.tokenize(raw, tokenizer, max_length=32, split="validation", seed=0)
    batch = task.eval_collator(tokenizer)([out[0], out[1]])
    assert batch["labels"].tolist() == [0, 1] and batch["labels"].dtype == torch.long
    assert batch["input_ids"].shape == batch["token_type_ids"].shape == (2, 9)

    metric = task.new_metric()
    metric.add(torch.tensor([[2.0, 0.1, 0.3], [0.0, 1.0, 0.5], [0.2, 0.1, 3.0]]), torch.tensor([0, 1, 1]))
    metric.add(torch.tensor([[0.0, 0.0, 1.0]]).to(torch.bfloat16), torch.tensor([2]))
    assert metric.compute() == pytest.approx(75.0)


@pytest.mark.parametrize(
    "rows, problem",
    [
        ({"premise": ["p"], "label": [0]}, r"missing column\(s\) \['hypothesis'\]"),
        ({"premise": ["p"], "hypothesis": ["h"], "label": [3]}, "label 3 is outside 0..2"),
        ({"premise": ["p"], "hypothesis": ["h"], "label": [-1]}, "label -1 is outside 0..2"),
        ({"premise": ["p", "q"], "hypothesis": ["h", "i"], "label": [0, None]}, "row 1: missing label"),
        ({"premise": [], "hypothesis": [], "label": []}, "empty"),
    ],
)
def test_nli_check_raw_errors(rows, problem):
    with pytest.raises(ValueError, match=problem):
        get_task("nli").check_raw(datasets.Dataset.from_dict(rows), "src", "train")


# ------------------------------------------------------------------------------------------------ MLM


def test_split_into_blocks_rule():
    ids = list(range(14))  # 3.5 blocks of 4
    assert split_into_blocks(ids, 4, min_tail=1) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13]]
    assert split_into_blocks(ids, 4, min_tail=3) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert split_into_blocks(list(range(8)), 4, min_tail=4) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert split_into_blocks([7], 4, min_tail=2) == []


def test_mlm_blocks_cover_every_document_in_order(tokenizer):
    words = "the cat sees a dog and the bird sings in the city".split()
    document = " ".join(words * 3)  # 36 single-token words
    ids = tokenizer(document, add_special_tokens=False)["input_ids"]
    assert len(ids) == 36
    raw = datasets.Dataset.from_dict({"text": [document, "anna sees bob"]})
    out = get_task("mlm").tokenize(raw, tokenizer, max_length=12, split="train", seed=0)  # blocks of 10
    assert set(out.column_names) == {"input_ids", "attention_mask", "token_type_ids"}
    blocks = out["input_ids"]
    # 3.6 blocks: 3 full + a tail of 6 >= a quarter block; "anna sees bob" (3 tokens) is a tail of 3 >= 3
    assert [len(b) for b in blocks] == [12, 12, 12, 8, 5]
    assert all(b[0] == tokenizer.cls_token_id and b[-1] == tokenizer.sep_token_id for b in blocks)
    assert [t for b in blocks[:4] for t in b[1:-1]] == ids
    short = get_task("mlm", min_tail_fraction=0.7).tokenize(raw, tokenizer, max_length=12, split="train", seed=0)
    assert [len(b) for b in short["input_ids"]] == [12, 12, 12]


def mlm_eval(tokenizer, texts, seed=0):
    raw = datasets.Dataset.from_dict({"text": texts})
    return get_task("mlm").tokenize(raw, tokenizer, max_length=18, split="validation", seed=seed)


EVAL_TEXTS = [
    "the cat sees a dog and the bird sings in the city " * 4,
    "anna likes the old car and bob reads a new book " * 3,
    "eve finds a red tree by the river in oslo " * 5,
]


def test_mlm_eval_masking_is_fixed_and_order_independent(tokenizer):
    first, again = mlm_eval(tokenizer, EVAL_TEXTS), mlm_eval(tokenizer, EVAL_TEXTS)
    assert first.to_list() == again.to_list()
    reversed_order = mlm_eval(tokenizer, EVAL_TEXTS[::-1])
    key = lambda row: (tuple(row["input_ids"]), tuple(row["labels"]))
    assert sorted(map(key, first)) == sorted(map(key, reversed_order))
    assert mlm_eval(tokenizer, EVAL_TEXTS, seed=1).to_list() != first.to_list()


def test_mlm_eval_rows_are_masked_consistently(tokenizer):
    out = mlm_eval(tokenizer, EVAL_TEXTS)
    train = get_task("mlm").tokenize(
        datasets.Dataset.from_dict({"text": EVAL_TEXTS}), tokenizer, max_length=18, split="train", seed=0
    )
    n_masked = 0
    for row, original in zip(out, train["input_ids"]):
        assert len(row["input_ids"]) == len(row["labels"]) == len(original)
        assert row["labels"][0] == row["labels"][-1] == -100  # [CLS] and [SEP] are never masked
        for masked_id, label, original_id in zip(row["input_ids"], row["labels"], original):
            if label == -100:
                assert masked_id == original_id
            else:
                assert label == original_id
                n_masked += 1
    n_tokens = sum(len(ids) - 2 for ids in train["input_ids"])
    assert 0.05 * n_tokens < n_masked < 0.3 * n_tokens
    mask_share = sum(i == tokenizer.mask_token_id for ids in out["input_ids"] for i in ids) / n_masked
    assert mask_share > 0.5


def test_mlm_collators(tokenizer):
    task = get_task("mlm")
    out = mlm_eval(tokenizer, EVAL_TEXTS + ["anna likes the red car"])
    rows = [out[i] for i in range(len(out))]
    eval_batch = task.eval_collator(tokenizer)(rows)
    short = rows[-1]
    assert len(short["input_ids"]) == 7 and eval_batch["input_ids"].shape == (len(rows), 18)
    assert eval_batch["input_ids"][-1, :7].tolist() == short["input_ids"]  # already masked: only padded
    assert eval_batch["labels"][-1, :7].tolist() == short["labels"]
    assert eval_batch["labels"][-1, 7:].eq(-100).all()
    assert eval_batch["input_ids"][-1, 7:].eq(tokenizer.pad_token_id).all()

    train = task.tokenize(
        datasets.Dataset.from_dict({"text": EVAL_TEXTS}), tokenizer, max_length=18, split="train", seed=0
    )
    collate = task.train_collator(tokenizer)
    rows = [train[i] for i in range(len(train))]
    torch.manual_seed(0)
    a = collate(rows)
    torch.manual_seed(0)
    b = collate(rows)
    assert all(torch.equal(a[k], b[k]) for k in a)  # the training loop's seed fixes the masks
    assert a["labels"].dtype == torch.long and (a["labels"] != -100).any()


def test_perplexity_pools_all_masked_tokens():
    torch.manual_seed(0)
    logits_1, logits_2 = torch.randn(2, 5, 11), torch.randn(1, 3, 11)
    labels_1 = torch.full((2, 5), -100)
    labels_1[0, 1], labels_1[1, 3], labels_1[1, 4] = 4, 7, 2
    labels_2 = torch.tensor([[-100, 9, -100]])
    metric = get_task("mlm").new_metric()
    metric.add(logits_1, labels_1)
    metric.add(logits_2.to(torch.bfloat16), labels_2)
    metric.add(torch.randn(1, 2, 11), torch.full((1, 2), -100))  # a batch without masked tokens

    pooled_logits = torch.cat([logits_1[labels_1 != -100], logits_2.to(torch.bfloat16).float()[labels_2 != -100]])
    pooled_labels = torch.cat([labels_1[labels_1 != -100], labels_2[labels_2 != -100]])
    expected = math.exp(F.cross_entropy(pooled_logits, pooled_labels).item())
    assert metric.compute() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError):
        get_task("mlm").new_metric().compute()


@pytest.mark.parametrize(
    "rows, problem",
    [
        ({"body": ["x"]}, "missing column"),
        ({"text": ["", "  \n"]}, "holds no text"),
        ({"text": []}, "empty"),
    ],
)
def test_mlm_check_raw_errors(rows, problem):
    with pytest.raises(ValueError, match=problem):
        get_task("mlm").check_raw(datasets.Dataset.from_dict(rows), "src", "train")


def test_mlm_rejects_bad_options():
    with pytest.raises(ValueError, match="min_tail_fraction"):
        get_task("mlm", min_tail_fraction=2.0)


# ------------------------------------------------------------------------------------------------ end to end


@pytest.mark.parametrize(
    "name, rows",
    [
        ("mlm", {"text": EVAL_TEXTS}),
        ("ner", {"tokens": [["anna", "sees", "cats"], ["acme", "in", "paris"]], "ner_tags": [[1, 0, 0], [3, 0, 5]]}),
        ("nli", {"premise": ["anna sees a cat", "bob"], "hypothesis": ["a cat", "eve"], "label": [0, 2]}),
    ],
)
def test_model_forward_and_metric(tiny_bert_dir, tokenizer, name, rows):
    task = get_task(name)
    out = task.tokenize(datasets.Dataset.from_dict(rows), tokenizer, max_length=18, split="validation", seed=0)
    batch = task.eval_collator(tokenizer)([out[i] for i in range(len(out))])
    model = task.model_class().from_pretrained(tiny_bert_dir, **task.model_kwargs()).eval()
    with torch.no_grad():
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    metric = task.new_metric()
    metric.add(logits, batch["labels"])
    value = metric.compute()
    assert math.isfinite(value) and (value > 1 if name == "mlm" else 0 <= value <= 100)
