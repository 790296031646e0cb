"""Data sources (hub ids, local files) and the prepare / load round trip."""

from __future__ import annotations

import json

import datasets
import pytest
from transformers import AutoTokenizer

from subnets.data import (
    DataSizeWarning,
    load_parallel,
    load_prepared,
    load_raw,
    prepare_dataset,
    prepared_info,
    source_label,
)
from subnets.tasks import get_task

WIKIANN_FEATURES = datasets.Features(
    {
        "tokens": datasets.List(datasets.Value("string")),
        "ner_tags": datasets.List(
            datasets.ClassLabel(names=["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"])
        ),
        "langs": datasets.List(datasets.Value("string")),
        "spans": datasets.List(datasets.Value("string")),
    }
)
XNLI_FEATURES = datasets.Features(
    {
        "premise": datasets.Value("string"),
        "hypothesis": datasets.Value("string"),
        "label": datasets.ClassLabel(names=["entailment", "neutral", "contradiction"]),
    }
)
NAMES = "anna bob carla dmitri eve".split()
PLACES = "paris berlin rome lima oslo".split()


@pytest.fixture(autouse=True)
def isolated_datasets_cache(tmp_path, monkeypatch):
    """Readers of local files cache arrow copies: keep them out of the user's cache."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


@pytest.fixture(scope="module")
def tokenizer(tiny_bert_dir):
    return AutoTokenizer.from_pretrained(tiny_bert_dir)


def ner_rows(n: int, start: int = 0) -> list[dict]:
    return [
        {"tokens": [NAMES[i % 5], "sees", "cats", "in", PLACES[(i // 5) % 5]], "ner_tags": [1, 0, 0, 0, 5]}
        for i in range(start, start + n)
    ]


def nli_rows(n: int, start: int = 0) -> list[dict]:
    return [
        {"premise": f"{NAMES[i % 5]} sees the {['cat', 'dog', 'bird'][i % 3]}", "hypothesis": "a cat", "label": i % 3}
        for i in range(start, start + n)
    ]


def mlm_rows(n: int, start: int = 0) -> list[dict]:
    """Distinct documents: i written in base 5 with names as digits, then i % 7 + 2 sentences of 8 tokens."""

    def document(i: int) -> str:
        header = " ".join(NAMES[(i // 5**k) % 5] for k in range(4))
        sentences = (f"{NAMES[(i + j) % 5]} sees the old car in {PLACES[j % 5]}." for j in range(i % 7 + 2))
        return f"{header}. " + " ".join(sentences)

    return [{"text": document(i)} for i in range(start, start + n)]


ROWS = {"ner": ner_rows, "nli": nli_rows, "mlm": mlm_rows}


def write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def local_source(root, task: str, n_train: int = 40, n_validation: int = 20):
    write_jsonl(root / "train.jsonl", ROWS[task](n_train))
    write_jsonl(root / "validation.jsonl", ROWS[task](n_validation, start=1000))
    return root


def assert_no_leftovers(parent, name):
    assert not (parent / name).exists()
    assert [p.name for p in parent.iterdir() if name in p.name] == []


# ------------------------------------------------------------------------------------------------ local sources


def test_local_formats_load_the_same_content(tmp_path):
    jsonl = local_source(tmp_path / "jsonl" / "en", "ner")
    reference = load_raw("ner", str(tmp_path / "jsonl" / "{lang}"), "en")
    assert list(reference) == ["train", "validation"] and reference.num_rows == {"train": 40, "validation": 20}

    parquet = tmp_path / "parquet"
    parquet.mkdir()
    for split in ("train", "validation"):
        reference[split].to_parquet(str(parquet / f"{split}.parquet"))
    reference.save_to_disk(str(tmp_path / "saved"))
    mapping = {"train": jsonl / "train.jsonl", "validation": str(tmp_path / "parquet" / "validation.parquet")}

    for source in (str(parquet), tmp_path / "saved", mapping):
        loaded = load_raw("ner", source, "en")
        assert {s: loaded[s].to_list() for s in loaded} == {s: reference[s].to_list() for s in reference}


def test_local_source_keeps_task_columns_and_test_split(tmp_path):
    root = local_source(tmp_path, "nli")
    write_jsonl(root / "test.jsonl", [dict(r, extra=1) for r in nli_rows(5)])
    loaded = load_raw("nli", root, "en")
    assert list(loaded) == ["train", "validation", "test"]
    assert loaded["test"].column_names == ["premise", "hypothesis", "label"]


def test_missing_local_files_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_raw("ner", tmp_path / "nowhere", "en")
    write_jsonl(tmp_path / "only-train" / "train.jsonl", ner_rows(3))
    with pytest.raises(FileNotFoundError, match=r"only-train/validation\.jsonl"):
        load_raw("ner", tmp_path / "only-train", "en")
    with pytest.raises(FileNotFoundError, match="missing.parquet"):
        load_raw(
            "ner", {"train": tmp_path / "only-train" / "train.jsonl", "validation": tmp_path / "missing.parquet"}, "en"
        )


def test_bad_local_data_is_reported_with_source_and_split(tmp_path):
    root = local_source(tmp_path / "de", "ner")
    write_jsonl(root / "validation.jsonl", [{"tokens": ["anna"], "ner_tags": [8]}])
    with pytest.raises(ValueError, match=r"de.*split 'validation'.*outside 0\.\.6"):
        load_raw("ner", tmp_path / "{lang}", "de")
    (root / "validation.jsonl").write_text("")
    with pytest.raises(ValueError, match="split 'validation'.*empty"):
        load_raw("ner", root, "de")


def test_local_mlm_without_validation_splits_documents(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", mlm_rows(100))
    first = load_raw("mlm", tmp_path, "xx", validation_fraction=0.1)
    train, validation = list(first["train"]["text"]), list(first["validation"]["text"])
    assert len(validation) == 10 and len(train) == 90
    assert sorted(train + validation) == sorted(r["text"] for r in mlm_rows(100))  # disjoint, complete
    assert list(load_raw("mlm", tmp_path, "xx", validation_fraction=0.1)["validation"]["text"]) == validation


# Hub sources (a local stand-in of the hub, in the hub's real layouts) are tested in test_hub.py.


def test_local_parallel_sentences(tmp_path):
    write_jsonl(tmp_path / "en-de" / "test.jsonl", [{"translation": {"en": f"e{i}", "de": f"d{i}"}} for i in range(3)])
    assert load_parallel(tmp_path / "{src}-{tgt}", src="en", tgt="de") == (["e0", "e1", "e2"], ["d0", "d1", "d2"])
    with pytest.raises(ValueError, match="lacks 'en' or 'fr'"):
        load_parallel(tmp_path / "en-de" / "test.jsonl", src="en", tgt="fr")


# ------------------------------------------------------------------------------------------------ prepare


def prepare(tmp_path, tokenizer, task, raw, name="out", **kwargs):
    options = {"n_train": 12, "n_eval": 6, "max_length": 16, "seed": 0, "source": "test-source"} | kwargs
    return prepare_dataset(raw, task, tokenizer, tmp_path / name, **options)


@pytest.mark.parametrize("task", ["ner", "nli", "mlm"])
def test_prepare_end_to_end(tmp_path, tokenizer, task):
    raw = load_raw(task, local_source(tmp_path / "src", task), "en")
    out = prepare(tmp_path, tokenizer, task, raw)
    prepared = load_prepared(out)
    assert prepared.num_rows == {"train": 12, "validation": 6}
    assert "labels" in prepared["validation"].column_names
    info = prepared_info(out)
    assert info["task"] == task and info["seed"] == 0 and info["max_length"] == 16
    assert info["source"] == "test-source" and info["tokenizer"] == tokenizer.name_or_path
    assert info["splits"]["train"]["size"] == 12 and info["splits"]["train"]["exhausted"] is False
    assert all(len(ids) <= 16 for ids in prepared["train"]["input_ids"])

    same = load_prepared(prepare(tmp_path, tokenizer, task, raw, name="same"))
    other = load_prepared(prepare(tmp_path, tokenizer, task, raw, name="other", seed=1))
    assert same["train"].to_list() == prepared["train"].to_list()
    assert same["validation"].to_list() == prepared["validation"].to_list()
    assert other["train"].to_list() != prepared["train"].to_list()


def test_prepare_subsample_is_shuffle_select(tmp_path, tokenizer):
    task = get_task("nli")
    raw = load_raw(task, local_source(tmp_path / "src", "nli"), "en")
    prepared = load_prepared(prepare(tmp_path, tokenizer, task, raw, seed=3))
    expected = task.tokenize(
        raw["train"].shuffle(seed=3).select(range(12)), tokenizer, max_length=16, split="train", seed=3
    )
    assert prepared["train"].to_list() == expected.to_list()


def test_prepare_mlm_counts_blocks_and_takes_all_when_short(tmp_path, tokenizer):
    write_jsonl(tmp_path / "src" / "train.jsonl", mlm_rows(60))
    raw = load_raw("mlm", tmp_path / "src", "en", validation_fraction=0.25)
    with pytest.warns(DataSizeWarning, match=r"mlm en \[split 'validation'\]: asked for 10000 blocks, the source has \d+"):
        out = prepare(tmp_path, tokenizer, "mlm", raw, n_train=30, n_eval=10_000)
    prepared, info = load_prepared(out), prepared_info(out)
    assert prepared["train"].num_rows == 30 and prepared["train"].column_names == [
        "input_ids",
        "attention_mask",
        "token_type_ids",
    ]
    assert info["splits"]["train"]["raw_rows_used"] < 45  # stopped once 30 blocks were in hand
    assert info["splits"]["validation"]["exhausted"] is True
    assert info["splits"]["validation"]["size"] == prepared["validation"].num_rows < 10_000
    assert info["task_options"] == {"mlm_probability": 0.15, "min_tail_fraction": 0.25}


def test_prepare_rejects_bad_data_and_leaves_nothing(tmp_path, tokenizer):
    raw = load_raw("nli", local_source(tmp_path / "src", "nli"), "en")
    bad = datasets.DatasetDict(
        train=raw["train"], validation=datasets.Dataset.from_list([{"premise": "p", "hypothesis": "h", "label": 5}])
    )
    with pytest.raises(ValueError, match="test-source.*split 'validation'.*label 5"):
        prepare(tmp_path, tokenizer, "nli", bad)
    assert_no_leftovers(tmp_path, "out")
    with pytest.raises(ValueError, match=r"no split\(s\) \['validation'\]"):
        prepare(tmp_path, tokenizer, "nli", datasets.DatasetDict(train=raw["train"]))
    with pytest.raises(ValueError, match="split 'train'.*empty"):
        prepare(
            tmp_path,
            tokenizer,
            "nli",
            datasets.DatasetDict(train=raw["train"].select([]), validation=raw["validation"]),
        )
    assert_no_leftovers(tmp_path, "out")


def test_prepare_mlm_without_blocks_fails_cleanly(tmp_path, tokenizer):
    raw = datasets.DatasetDict(
        train=datasets.Dataset.from_dict({"text": ["anna", "bob"]}),
        validation=datasets.Dataset.from_dict({"text": ["eve"]}),
    )
    with pytest.raises(ValueError, match="no mlm examples left after tokenisation"):
        prepare(tmp_path, tokenizer, "mlm", raw, max_length=64)
    assert_no_leftovers(tmp_path, "out")


def test_prepare_is_atomic_when_saving_fails(tmp_path, tokenizer, monkeypatch):
    raw = load_raw("ner", local_source(tmp_path / "src", "ner"), "en")

    def broken_save(self, path, **kwargs):
        (datasets.Dataset.from_dict({"x": [1]})).save_to_disk(f"{path}/train")
        raise OSError("disk full")

    monkeypatch.setattr(datasets.DatasetDict, "save_to_disk", broken_save)
    with pytest.raises(OSError, match="disk full"):
        prepare(tmp_path, tokenizer, "ner", raw)
    assert_no_leftovers(tmp_path, "out")


def test_load_prepared_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="prepared dataset not found"):
        load_prepared(tmp_path / "absent")
    (tmp_path / "some-dir").mkdir()
    with pytest.raises(ValueError, match="not a prepared dataset"):
        load_prepared(tmp_path / "some-dir")


def test_mix_prepared_takes_an_equal_share_of_each_language(tmp_path, tokenizer):
    from subnets.data import mix_prepared

    parts = {}
    for lang in ("en", "de"):
        raw = load_raw("nli", local_source(tmp_path / f"src-{lang}", "nli"), "en")
        parts[lang] = prepare(tmp_path, tokenizer, "nli", raw, name=lang, seed=0 if lang == "en" else 1)
    out = mix_prepared(parts, tmp_path / "mix", n_train=12, n_eval=6, seed=0)
    mixed = load_prepared(out)
    assert mixed.num_rows == {"train": 12, "validation": 6}
    for split, share in (("train", 6), ("validation", 3)):
        rows = [tuple(r["input_ids"]) for r in mixed[split]]
        for lang in parts:
            first = [tuple(r["input_ids"]) for r in load_prepared(parts[lang])[split].select(range(share))]
            assert all(rows.count(r) >= first.count(r) for r in first)
    info = prepared_info(out)
    assert info["languages"] == ["en", "de"] and info["splits"]["train"] == {"size": 12, "per_language": 6}
    again = load_prepared(mix_prepared(parts, tmp_path / "again", n_train=12, n_eval=6, seed=0))
    assert again["train"].to_list() == mixed["train"].to_list()

    with pytest.raises(ValueError, match="at least two"):
        mix_prepared({"en": parts["en"]}, tmp_path / "one", n_train=12, n_eval=6, seed=0)
    with pytest.raises(ValueError, match="the mixture needs 13"):
        mix_prepared(parts, tmp_path / "big", n_train=26, n_eval=6, seed=0)
    assert not (tmp_path / "big").exists() and not (tmp_path / "one").exists()
    ner = prepare(tmp_path, tokenizer, "ner", load_raw("ner", local_source(tmp_path / "ner", "ner"), "en"), name="n")
    with pytest.raises(ValueError, match="differ in task"):
        mix_prepared({"en": parts["en"], "xx": ner}, tmp_path / "mixed-tasks", n_train=12, n_eval=6, seed=0)


# ------------------------------------------------------------------------------------------------ sizes, provenance


def test_short_splits_warn_before_tokenising_naming_task_language_split_and_sizes(tmp_path, tokenizer, monkeypatch):
    """WikiAnn ur has 1,000 validation rows where the paper's config asks 10,000: say so before the long work."""
    raw = load_raw("ner", local_source(tmp_path / "ur", "ner", n_train=40, n_validation=5), "ur")
    tokenised = []
    task = get_task("ner")
    original = type(task).tokenize

    def spy(self, *args, **kwargs):
        tokenised.append(kwargs.get("split"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(task), "tokenize", spy)
    with pytest.warns(DataSizeWarning, match=r"ner ur \[split 'validation'\]: asked for 10 rows, the source has 5") as w:
        out = prepare(tmp_path, tokenizer, task, raw, n_train=12, n_eval=10)
    assert len(w) == 1 and tokenised == ["train", "validation"]  # warned once, then the work went on
    info = prepared_info(out)
    assert info["language"] == "ur"
    assert info["size_shortfalls"] == [
        {"split": "validation", "requested": 10, "available": 5, "unit": "rows", "estimate": False}
    ]
    assert info["splits"]["validation"]["size"] == 5

    tokenised.clear()
    with pytest.raises(ValueError, match=r"ner ur \[split 'validation'\]: asked for 10 rows, the source has 5.*exact_sizes"):
        prepare(tmp_path, tokenizer, task, raw, name="exact", n_train=12, n_eval=10, exact_sizes=True)
    assert tokenised == [] and not (tmp_path / "exact").exists()  # the error came before any tokenisation


def test_mlm_shortfall_is_estimated_after_the_first_chunk(tmp_path, tokenizer, monkeypatch):
    """A small Wikipedia cannot give 1.6M blocks: an estimate after the first chunk warns early."""
    import subnets.data.prepare as prepare_module

    monkeypatch.setattr(prepare_module, "FIRST_CHUNK", 10)
    write_jsonl(tmp_path / "sw" / "train.jsonl", mlm_rows(80))
    raw = load_raw("mlm", tmp_path / "sw", "sw", validation_fraction=0.25)
    with pytest.warns(DataSizeWarning) as w:
        out = prepare(tmp_path, tokenizer, "mlm", raw, n_train=1_600_000, n_eval=6)
    messages = [str(x.message) for x in w]
    assert "mlm sw [split 'train']: asked for 1600000 blocks, the source has about" in messages[0]
    assert "estimated from the first chunk" in messages[0]
    assert "the source has about" not in messages[1] and "asked for 1600000 blocks" in messages[1]
    info = prepared_info(out)
    assert [s["estimate"] for s in info["size_shortfalls"]] == [True, False]
    with pytest.raises(ValueError, match="asked for 1600000 blocks.*exact_sizes"), pytest.warns(DataSizeWarning):
        prepare(tmp_path, tokenizer, "mlm", raw, name="exact", n_train=1_600_000, n_eval=6, exact_sizes=True)


def test_local_sources_are_recorded_as_local_with_a_content_hash(tmp_path, tokenizer):
    root = local_source(tmp_path / "de", "nli")
    raw = load_raw("nli", tmp_path / "{lang}", "de")
    read = raw.provenance
    assert read["kind"] == "local" and read["revision"] == "local" and read["language"] == "de"
    assert read["rows"] == {"train": 40, "validation": 20} and len(read["content_hash"]) == 16
    info = prepared_info(prepare(tmp_path, tokenizer, "nli", raw))
    assert info["read"] == read
    assert load_raw("nli", root, "de").provenance["content_hash"] == read["content_hash"]
    write_jsonl(root / "validation.jsonl", nli_rows(20, start=7))  # other content, same names
    assert load_raw("nli", root, "de").provenance["content_hash"] != read["content_hash"]
    with pytest.raises(ValueError, match="revision 'v1' is set, but the source is local"):
        load_raw("nli", root, "de", revision="v1")
