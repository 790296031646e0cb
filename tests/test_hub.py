"""Hub datasets read through a local stand-in of the hub, in the hub's real file layouts (no network).

``FakeHub`` answers ``dataset_info`` / ``model_info`` like ``huggingface_hub.HfApi`` (a commit and the files at
it) and serves the files from a directory; ``datasets.load_dataset`` is replaced by a recorder that insists on
``data_files`` (only the files of the needed split) and reads them with the real parquet loader.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from types import SimpleNamespace

import datasets
import pytest
from test_data import WIKIANN_FEATURES, XNLI_FEATURES, mlm_rows, ner_rows, nli_rows

from subnets.data import hub, load_parallel, load_parallel_premises, load_raw, prepare_dataset, prepared_info
from subnets.data import source_label

REAL_LOAD_DATASET = datasets.load_dataset


class FakeHub:
    """Repositories at commits, each a folder of files; revisions (branches, tags) point at commits."""

    def __init__(self, root: Path):
        self.root = root
        self.refs: dict[tuple[str, str], str] = {}  # (repo, revision) -> commit
        self.info_calls: list[tuple[str, str]] = []
        self.load_calls: list[dict] = []

    def commit(self, repo: str, files: dict[str, datasets.Dataset], revision: str = "main") -> str:
        sha = hashlib.sha1(f"{repo}@{revision}".encode()).hexdigest()
        for path, dataset in files.items():
            target = self.root / sha / path
            target.parent.mkdir(parents=True, exist_ok=True)
            dataset.to_parquet(str(target))
        self.refs[(repo, revision)] = self.refs[(repo, sha)] = sha
        return sha

    def _info(self, repo: str, revision: str):
        self.info_calls.append((repo, revision))
        if (repo, revision) not in self.refs:
            raise FileNotFoundError(f"fake hub: no revision {revision!r} of {repo}")
        sha = self.refs[(repo, revision)]
        files = sorted(p.relative_to(self.root / sha).as_posix() for p in (self.root / sha).rglob("*") if p.is_file())
        return SimpleNamespace(sha=sha, siblings=[SimpleNamespace(rfilename=f) for f in files])

    dataset_info = model_info = _info

    def local_path(self, url: str) -> str:
        match = re.fullmatch(r"hf://datasets/(.+?)@([0-9a-f]{40})/(.+)", url)
        assert match, f"not a pinned hf:// file address: {url}"
        return str(self.root / match.group(2) / match.group(3))

    def load_dataset(self, path, name=None, *, data_files=None, split=None, streaming=False, **kwargs):
        self.load_calls.append({"path": path, "name": name, "data_files": data_files, "split": split,
                                "streaming": streaming, **kwargs})  # fmt: skip
        assert path == "parquet" and data_files, "a hub dataset must be read through the files of one split"
        assert split is not None and list(data_files) == [split]
        local = {s: [self.local_path(u) for u in urls] for s, urls in data_files.items()}
        return REAL_LOAD_DATASET("parquet", data_files=local, split=split, streaming=streaming)


def wikiann(lang: str, sizes=(6, 6, 6)) -> dict[str, datasets.Dataset]:
    def rows(n):
        return [dict(r, langs=[lang] * 5, spans=["PER: x"]) for r in ner_rows(n)]

    return {
        f"{lang}/{split}-00000-of-00001.parquet": datasets.Dataset.from_list(rows(n), features=WIKIANN_FEATURES)
        for split, n in zip(("train", "validation", "test"), sizes)
    }


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    fake = FakeHub(tmp_path / "hub")
    fake.commit("unimelb-nlp/wikiann", {**wikiann("ar"), **wikiann("ur", sizes=(20, 5, 5))})
    # the parquet-converter branch's layout: <config>/<split>/0000.parquet
    fake.commit(
        "unimelb-nlp/wikiann",
        {f"ar/{s}/0000.parquet": d for s, d in zip(("train", "validation", "test"), wikiann("ar").values())},
        revision="refs/convert/parquet",
    )
    xnli = {
        f"{lang}/{split}-00000-of-00001.parquet": datasets.Dataset.from_list(nli_rows(6), features=XNLI_FEATURES)
        for lang in ("sw", "fr")
        for split in ("train", "validation", "test")
    }
    fake.commit("facebook/xnli", xnli)
    articles = [{"id": str(i), "url": "u", "title": "t", **r} for i, r in enumerate(mlm_rows(40))]
    fake.commit(
        "wikimedia/wikipedia",
        {
            f"20231101.ur/train-0000{k}-of-00002.parquet": datasets.Dataset.from_list(articles[k * 20 : k * 20 + 20])
            for k in range(2)
        },
    )
    pairs = [{"translation": {"fr": f"phrase {i}", "en": f"sentence {i}"}} for i in range(4)]
    train_pairs = [{"translation": {"fr": "train", "en": "train"}}] * 3
    fake.commit(
        "wmt/wmt14",
        {
            "fr-en/test-00000-of-00001.parquet": datasets.Dataset.from_list(pairs),
            "fr-en/validation-00000-of-00001.parquet": datasets.Dataset.from_list(pairs[:2]),
            **{f"fr-en/train-0000{k}-of-00003.parquet": datasets.Dataset.from_list(train_pairs) for k in range(3)},
        },
    )
    monkeypatch.setattr(hub, "hub_api", lambda: fake)
    monkeypatch.setattr(datasets, "load_dataset", fake.load_dataset)
    return fake


def test_split_files_recognises_the_hub_layouts():
    files = [
        "README.md", "en/train-00000-of-00002.parquet", "en/train-00001-of-00002.parquet",
        "en/validation-00000-of-00001.parquet", "en/validation/index.duckdb", "fr-en/partial-train/0001.parquet",
        "fr-en/train/0000.parquet", "zh/xnli-train.parquet", "zh/xnli-validation.parquet",
        "20231101.en/train-00040-of-00041.parquet", "en-x/train-00000-of-00001.parquet",
    ]  # fmt: skip
    assert hub.split_files(files, "en", "train") == ["en/train-00000-of-00002.parquet", "en/train-00001-of-00002.parquet"]
    assert hub.split_files(files, "en", "validation") == ["en/validation-00000-of-00001.parquet"]
    assert hub.split_files(files, "fr-en", "train") == ["fr-en/train/0000.parquet"]  # not partial-train
    assert hub.split_files(files, "zh", "validation") == ["zh/xnli-validation.parquet"]
    assert hub.split_files(files, "20231101.en", "train") == ["20231101.en/train-00040-of-00041.parquet"]
    assert hub.split_files(files, "en", "test") == []


def test_hub_loaders_read_only_the_files_of_the_needed_splits(fake_hub):
    ner = load_raw("ner", "hub", "ar")
    nli = load_raw("nli", "hub", "sw")
    sources, targets, read = load_parallel("hub", src="en", tgt="fr", return_info=True)
    premises = load_parallel_premises("hub", lang="fr")

    calls = fake_hub.load_calls
    assert all(c["path"] == "parquet" and c["name"] is None for c in calls)
    files = [(c["split"], [u.rsplit("/", 2)[-2] + "/" + u.rsplit("/", 1)[-1] for u in c["data_files"][c["split"]]])
             for c in calls]  # fmt: skip
    assert files == [
        ("train", ["ar/train-00000-of-00001.parquet"]),
        ("validation", ["ar/validation-00000-of-00001.parquet"]),
        ("test", ["ar/test-00000-of-00001.parquet"]),
        ("train", ["sw/train-00000-of-00001.parquet"]),
        ("validation", ["sw/validation-00000-of-00001.parquet"]),
        ("test", ["sw/test-00000-of-00001.parquet"]),
        ("test", ["fr-en/test-00000-of-00001.parquet"]),  # the 3,003 test pairs, never the 40.8M training pairs
        ("test", ["fr/test-00000-of-00001.parquet"]),  # CCA premises: XNLI's test split alone
    ]
    assert ner["train"].column_names == ["tokens", "ner_tags"] and list(ner) == ["train", "validation", "test"]
    assert nli["validation"].column_names == ["premise", "hypothesis", "label"]
    assert sources[2] == "sentence 2" and targets[2] == "phrase 2" and len(premises) == 6
    assert read["repo"] == "wmt/wmt14" and read["files"] == ["fr-en/test-00000-of-00001.parquet"] and read["rows"] == 4
    assert source_label("ner", "hub", "ar") == "hub:unimelb-nlp/wikiann:ar"


def test_wikipedia_is_streamed_with_a_seeded_reproducible_selection(fake_hub):
    mlm = load_raw("mlm", "hub", "ur", max_documents=30, split_seed=0, validation_fraction=0.1)
    (call,) = fake_hub.load_calls
    assert call["streaming"] is True and call["split"] == "train"
    assert [u.rsplit("/", 1)[-1] for u in call["data_files"]["train"]] == [
        "train-00000-of-00002.parquet", "train-00001-of-00002.parquet"
    ]  # fmt: skip
    assert mlm["train"].column_names == ["text"] and list(mlm) == ["train", "validation"]
    assert mlm.num_rows == {"train": 27, "validation": 3}
    assert set(mlm["train"]["text"]).isdisjoint(mlm["validation"]["text"])
    (read,) = mlm.provenance["reads"]
    assert read["rows"] == 30 and read["config"] == "20231101.ur"
    assert read["selection"] == {"shuffle_seed": 0, "buffer_size": hub.WIKIPEDIA_BUFFER, "max_documents": 30,
                                 "edition_exhausted": False}  # fmt: skip

    again = load_raw("mlm", "hub", "ur", max_documents=30, split_seed=0, validation_fraction=0.1)
    assert list(again["train"]["text"]) == list(mlm["train"]["text"])
    other = load_raw("mlm", "hub", "ur", max_documents=30, split_seed=1, validation_fraction=0.1)

    def documents(raw):
        return sorted([*raw["train"]["text"], *raw["validation"]["text"]])

    assert documents(other) != documents(mlm)  # another seed reads other articles
    whole = load_raw("mlm", "hub", "ur", validation_fraction=0.1)
    assert whole.provenance["reads"][0]["rows"] == 40
    assert whole.provenance["reads"][0]["selection"]["edition_exhausted"] is True


def test_revisions_are_resolved_to_commits_and_recorded_in_info_json(fake_hub, tmp_path, tokenizer):
    main = fake_hub.refs[("unimelb-nlp/wikiann", "main")]
    converted = fake_hub.refs[("unimelb-nlp/wikiann", "refs/convert/parquet")]
    raw = load_raw("ner", "hub", "ar", revision="refs/convert/parquet")
    assert raw.provenance["revision"] == converted != main
    assert ("unimelb-nlp/wikiann", "refs/convert/parquet") in fake_hub.info_calls
    assert all(f"@{converted}/" in u for c in fake_hub.load_calls for u in c["data_files"][c["split"]])
    reads = raw.provenance["reads"]
    assert [(r["split"], r["files"], r["rows"], r["requested"]) for r in reads] == [
        ("train", ["ar/train/0000.parquet"], 6, "refs/convert/parquet"),
        ("validation", ["ar/validation/0000.parquet"], 6, "refs/convert/parquet"),
        ("test", ["ar/test/0000.parquet"], 6, "refs/convert/parquet"),
    ]
    out = prepare_dataset(raw, "ner", tokenizer, tmp_path / "out", n_train=4, n_eval=4, max_length=16, seed=0,
                          source=source_label("ner", "hub", "ar"))  # fmt: skip
    info = prepared_info(out)
    assert info["read"]["revision"] == converted and info["read"]["reads"][0]["repo"] == "unimelb-nlp/wikiann"
    assert info["language"] == "ar"

    pinned = load_raw("ner", "hub", "ar", revision=main)  # a commit pins too
    assert pinned.provenance["revision"] == main and pinned.provenance["reads"][0]["requested"] == main
    assert load_raw("ner", "hub", "ar").provenance["reads"][0]["requested"] == "main"
    with pytest.raises(FileNotFoundError, match="no revision 'v9'"):
        load_raw("ner", "hub", "ar", revision="v9")


def test_missing_split_files_name_repo_commit_config_and_split(fake_hub):
    with pytest.raises(ValueError, match=r"unimelb-nlp/wikiann@main \(commit [0-9a-f]+\): no parquet files of "
                                         r"config 'de' split 'train'"):  # fmt: skip
        load_raw("ner", "hub", "de")


def test_wikiann_ur_validation_shortfall_is_reported_from_the_hub(fake_hub, tmp_path, tokenizer):
    from subnets.data import DataSizeWarning

    raw = load_raw("ner", "hub", "ur")
    with pytest.warns(DataSizeWarning, match=r"ner ur \[split 'validation'\]: asked for 10 rows, the source has 5"):
        prepare_dataset(raw, "ner", tokenizer, tmp_path / "ur", n_train=8, n_eval=10, max_length=16, seed=0)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: load_raw("nli", "hub", "fa"), r"facebook/xnli has no language 'fa'; available: ar bg de"),
        (lambda: load_raw("ner", "hub", "xx"), r"unimelb-nlp/wikiann has no language 'xx'; available: ace af"),
        (lambda: load_raw("mlm", "hub", "English"), r"not a Wikipedia language code"),
        (lambda: load_parallel("hub", src="en", tgt="es"), r"wmt/wmt14 has no language 'es'"),
        (lambda: load_parallel("hub", src="de", tgt="fr"), r"English with one other language"),
    ],
)
def test_unknown_languages_fail_before_any_download(fake_hub, call, message):
    with pytest.raises(ValueError, match=message):
        call()
    assert fake_hub.load_calls == [] and fake_hub.info_calls == []


@pytest.fixture(scope="module")
def tokenizer(tiny_bert_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_bert_dir)
