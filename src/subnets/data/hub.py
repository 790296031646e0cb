"""Hugging Face hub datasets the paper uses, with their language lists in one place.

Every loader checks the language BEFORE calling ``datasets.load_dataset``, so a typo in the config fails
at once with the list of valid codes instead of after (or during) a download. The loaders return the hub
schema as is; ``subnets.data.sources.load_raw`` keeps the task's columns.

Only what is needed is read. ``datasets.load_dataset(repo, split=...)`` prepares EVERY split of a config first
(WMT14 fr-en: 40.8M training pairs for a 3,003-pair test set; a whole Wikipedia edition for a sample), so the
loaders here resolve the revision to a commit, list the repository's files at that commit, pick the parquet
files of the one split they need, and read those alone (``data_files``), or stream them (Wikipedia). Each read
comes with a record of exactly what was read: repo, config, requested revision, commit, files, rows.

Layouts (from the dataset cards and file trees): on ``main`` a split of a config is
``<config>/<split>-00000-of-00001.parquet`` (XNLI, WMT14 ``fr-en/test-...``, Wikipedia
``20231101.en/train-000NN-of-00041.parquet``); the parquet-converter branch ``refs/convert/parquet`` has
``<config>/<split>/0000.parquet``; older conversions ``<config>/<dataset>-<split>.parquet``. All three are
recognised, optionally under ``data/``; which one a repository uses is read from its file list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datasets

WIKIANN_ID = "unimelb-nlp/wikiann"  # the paper's `wikiann`, under its current hub id
XNLI_ID = "facebook/xnli"  # the paper's `xnli`
WIKIPEDIA_ID = "wikimedia/wikipedia"
WIKIPEDIA_DUMP = "20231101"
WMT14_ID = "wmt/wmt14"

XNLI_LANGUAGES: tuple[str, ...] = tuple("ar bg de el en es fr hi ru sw th tr ur vi zh".split())

# The 176 configurations of WikiAnn (Rahimi et al. 2019's balanced splits), named by Wikipedia code.
WIKIANN_LANGUAGES: tuple[str, ...] = tuple(
    """
    ace af als am an ang ar arc arz as ast ay az ba bar bat-smg be be-x-old bg bh bn bo br bs ca cbk-zam
    cdo ce ceb ckb co crh cs csb cv cy da de diq dv el eml en eo es et eu ext fa fi fiu-vro fo fr frr fur
    fy ga gan gd gl gn gu hak he hi hr hsb hu hy ia id ig ilo io is it ja jbo jv ka kk km kn ko ksh ku ky
    la lb li lij lmo ln lt lv map-bms mg mhr mi min mk ml mn mr ms mt mwl my mzn nap nds ne nl nn no nov
    oc or os pa pdc pl pms pnb ps pt qu rm ro ru rw sa sah scn sco sd sh si simple sk sl so sq sr su sv sw
    szl ta te tg th tk tl tr tt ug uk ur uz vec vep vi vls vo wa war wuu xmf yi yo zea zh zh-classical
    zh-min-nan zh-yue
    """.split()
)

# WMT14 pairs all have English on one side; the config is "<other>-en".
WMT14_LANGUAGES: tuple[str, ...] = ("cs", "de", "fr", "hi", "ru")

# Wikipedia has some 300 editions, and which ones a dump holds changes with the dump: codes are checked
# for form only here, and a well-formed code without an edition is reported by the hub.
_WIKIPEDIA_CODE = re.compile(r"[a-z]{2,3}(-[a-z0-9]+)*")


WIKIPEDIA_BUFFER = 10_000  # documents in the shuffle buffer of a streamed Wikipedia edition


def require_language(dataset: str, lang: str, available: Iterable[str]) -> None:
    available = tuple(available)
    if lang not in available:
        raise ValueError(f"{dataset} has no language {lang!r}; available: {' '.join(available)}")


def hub_api():
    """The Hugging Face hub client; a function, so that tests can put a local stand-in in its place."""
    from huggingface_hub import HfApi

    return HfApi()


def resolve_dataset(repo: str, revision: str | None = None) -> tuple[str, list[str]]:
    """The commit that ``revision`` (branch, tag or commit; None = ``main``) of dataset ``repo`` resolves to,
    and the repository's files at that commit."""
    requested = revision or "main"
    info = hub_api().dataset_info(repo, revision=requested)
    if not info.sha:
        raise ValueError(f"hub dataset {repo}@{requested}: the hub gave no commit for this revision")
    return info.sha, sorted(sibling.rfilename for sibling in info.siblings or ())


def split_files(files: Sequence[str], config: str, split: str) -> list[str]:
    """The parquet files of ``split`` of ``config`` among a repository's ``files`` (see the module doc for the
    layouts), in name order; [] when there are none. Layouts are tried in turn and never mixed."""
    c, s = re.escape(config), re.escape(split)
    layouts = (
        rf"(?:data/)?{c}/{s}(?:-\d+-of-\d+)?(?:-[0-9a-f]+)?\.parquet",  # main: en/train-00000-of-00001.parquet
        rf"(?:data/)?{c}/{s}/[^/]+\.parquet",  # refs/convert/parquet: en/train/0000.parquet
        rf"(?:data/)?{c}/[^/]+-{s}(?:-\d+-of-\d+)?\.parquet",  # older conversions: en/xnli-train.parquet
    )
    for layout in layouts:
        found = sorted(f for f in files if re.fullmatch(layout, f))
        if found:
            return found
    return []


def hub_url(repo: str, commit: str, path: str) -> str:
    """The ``hf://`` address of one file of a dataset repository at one commit."""
    return f"hf://datasets/{repo}@{commit}/{path}"


def read_split(
    repo: str, config: str, split: str, *, revision: str | None = None, streaming: bool = False
) -> tuple[datasets.Dataset | datasets.IterableDataset, dict[str, Any]]:
    """One split of one config of a hub dataset, reading its parquet files only, and the record of the read.

    The record: ``repo``, ``config``, ``split``, ``requested`` (the revision asked for), ``revision`` (the
    commit), ``files`` (paths in the repository) and, unless ``streaming``, ``rows``.
    """
    import datasets

    commit, files = resolve_dataset(repo, revision)
    chosen = split_files(files, config, split)
    if not chosen:
        configs = sorted({f.split("/")[-2] if f.count("/") >= 1 else "" for f in files if f.endswith(".parquet")})
        raise ValueError(
            f"hub dataset {repo}@{revision or 'main'} (commit {commit}): no parquet files of config {config!r} "
            f"split {split!r}; folders with parquet files: {' '.join(configs[:20]) or 'none'}"
        )
    dataset = datasets.load_dataset(
        "parquet", data_files={split: [hub_url(repo, commit, f) for f in chosen]}, split=split, streaming=streaming
    )
    record: dict[str, Any] = {
        "repo": repo, "config": config, "split": split, "requested": revision or "main", "revision": commit,
        "files": chosen, "streaming": streaming,
    }  # fmt: skip
    if not streaming:
        record["rows"] = len(dataset)
    return dataset, record


def _read_splits(repo: str, config: str, splits: Sequence[str], revision: str | None):
    import datasets

    loaded, records = {}, []
    for split in splits:
        loaded[split], record = read_split(repo, config, split, revision=revision)
        records.append(record)
    return datasets.DatasetDict(loaded), records


def load_wikiann(lang: str, *, revision: str | None = None) -> tuple[datasets.DatasetDict, list[dict]]:
    """WikiAnn NER for ``lang``: splits train / validation / test, and the record of each read."""
    require_language(WIKIANN_ID, lang, WIKIANN_LANGUAGES)
    return _read_splits(WIKIANN_ID, lang, ("train", "validation", "test"), revision)


def load_xnli(
    lang: str, *, revision: str | None = None, splits: Sequence[str] = ("train", "validation", "test")
) -> tuple[datasets.DatasetDict, list[dict]]:
    """XNLI for ``lang``: splits train (machine-translated MNLI) / validation / test (or only ``splits``)."""
    require_language(XNLI_ID, lang, XNLI_LANGUAGES)
    return _read_splits(XNLI_ID, lang, splits, revision)


def _documents(stream, limit: int | None):
    for i, row in enumerate(stream):
        if limit is not None and i >= limit:
            return
        yield row


def load_wikipedia(
    lang: str, *, revision: str | None = None, max_documents: int | None = None, seed: int = 0
) -> tuple[datasets.DatasetDict, list[dict]]:
    """Articles of the Wikipedia edition of ``lang`` (a single ``train`` split), streamed, not downloaded whole.

    The edition's parquet shards are streamed in an order shuffled with ``seed`` through a shuffle buffer of
    :data:`WIKIPEDIA_BUFFER` articles (the same files, seed and buffer give the same articles in the same
    order), and the first ``max_documents`` are kept (None: every article; small editions are read whole).
    The record says how many were read and whether the edition ran out first.
    """
    import datasets

    if not _WIKIPEDIA_CODE.fullmatch(lang):
        raise ValueError(f"{WIKIPEDIA_ID}: {lang!r} is not a Wikipedia language code (e.g. en, zh, be-x-old)")
    if max_documents is not None and max_documents < 1:
        raise ValueError(f"max_documents must be positive or None, got {max_documents}")
    stream, record = read_split(WIKIPEDIA_ID, f"{WIKIPEDIA_DUMP}.{lang}", "train", revision=revision, streaming=True)
    stream = stream.shuffle(seed=seed, buffer_size=WIKIPEDIA_BUFFER)
    articles = datasets.Dataset.from_generator(
        _documents, gen_kwargs={"stream": stream, "limit": max_documents}, features=stream.features
    )
    record.update(
        rows=len(articles),
        selection={"shuffle_seed": seed, "buffer_size": WIKIPEDIA_BUFFER, "max_documents": max_documents,
                   "edition_exhausted": max_documents is None or len(articles) < max_documents},
    )  # fmt: skip
    return datasets.DatasetDict({"train": articles}), [record]


def load_wmt14(
    src: str, tgt: str, split: str = "test", *, revision: str | None = None
) -> tuple[datasets.Dataset, dict]:
    """WMT14 sentence pairs between English and one other language (``translation`` column of dicts): only the
    files of ``split`` are read (the test set, not 40.8M training pairs), and the record of the read."""
    if "en" not in (src, tgt) or src == tgt:
        raise ValueError(f"{WMT14_ID} pairs English with one other language, got {src}-{tgt}")
    other = tgt if src == "en" else src
    require_language(WMT14_ID, other, WMT14_LANGUAGES)
    return read_split(WMT14_ID, f"{other}-en", split, revision=revision)
