"""Where a task's raw data comes from: one entry point for hub and local sources.

A source spec, as written in the workflow config, is one of
- ``"hub"``: the paper's dataset for the task on the Hugging Face hub (NER: WikiAnn, NLI: XNLI,
  MLM: a Wikipedia dump);
- a directory path: a ``DatasetDict.save_to_disk`` directory, or one file per split
  (``train.jsonl``, ``validation.parquet``, ...; see ``subnets.data.local``);
- a mapping split -> file (or saved single-split directory).
Paths may contain ``{lang}``, replaced by the language, so one spec serves every language of a task.

``load_raw`` returns the splits with a record of exactly what was read, ``raw.provenance`` (hub: repo, config,
requested revision, commit, files and rows of each split; local: the paths and a content hash);
``prepare_dataset`` writes it into the prepared data's ``info.json``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from subnets.data import hub
from subnets.data.local import content_hash, load_local, load_split_file

if TYPE_CHECKING:
    import datasets

    from subnets.tasks import Task

HUB = "hub"
SourceSpec = str | os.PathLike | Mapping[str, str | os.PathLike]

HUB_LOADERS: dict[str, Callable[..., tuple[datasets.DatasetDict, list[dict]]]] = {
    "ner": hub.load_wikiann,
    "nli": hub.load_xnli,
    "mlm": hub.load_wikipedia,
}
HUB_NAMES: dict[str, Callable[[str], str]] = {
    "ner": lambda lang: f"{hub.WIKIANN_ID}:{lang}",
    "nli": lambda lang: f"{hub.XNLI_ID}:{lang}",
    "mlm": lambda lang: f"{hub.WIKIPEDIA_ID}:{hub.WIKIPEDIA_DUMP}.{lang}",
}


def _resolve_task(task: Task | str) -> Task:
    from subnets.tasks import get_task

    return get_task(task) if isinstance(task, str) else task


def _is_hub(source: SourceSpec) -> bool:
    return isinstance(source, str) and source == HUB


def _fill(path: str | os.PathLike, **fields: str) -> Path:
    text = os.fspath(path)
    for key, value in fields.items():
        text = text.replace("{" + key + "}", value)
    return Path(text)


def _localize(source: SourceSpec, lang: str) -> Path | dict[str, Path]:
    if isinstance(source, Mapping):
        return {split: _fill(path, lang=lang) for split, path in source.items()}
    return _fill(source, lang=lang)


def source_label(task: Task | str, source: SourceSpec, lang: str) -> str:
    """A short human-readable name of the data source, for error messages and ``info.json``."""
    task = _resolve_task(task)
    if _is_hub(source):
        return f"hub:{HUB_NAMES[task.name](lang)}"
    local = _localize(source, lang)
    if isinstance(local, dict):
        return ", ".join(f"{split}={path}" for split, path in local.items())
    return str(local)


def split_documents(
    train: datasets.Dataset, validation_fraction: float, seed: int, label: str
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Disjoint (train, validation) sets of whole documents, drawn with ``seed``.

    Splitting documents, before they are cut into blocks, keeps every document on one side (the original
    code's train and validation could overlap).
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    if len(train) < 2:
        raise ValueError(f"{label}: need at least 2 documents to split off a validation set, got {len(train)}")
    parts = train.train_test_split(test_size=validation_fraction, seed=seed)
    return parts["train"], parts["test"]


def provenance(raw: datasets.DatasetDict) -> dict | None:
    """The record of what ``load_raw`` read (None for data that did not come through it)."""
    return getattr(raw, "provenance", None)


def _local_record(local: Path | dict[str, Path]) -> dict:
    if isinstance(local, dict):
        paths = {split: str(path) for split, path in local.items()}
        digest = _hash_of_files(list(local.values()))
    else:
        paths, digest = str(local), content_hash(local)
    return {"kind": "local", "paths": paths, "revision": "local", "content_hash": digest}


def _hash_of_files(paths: list[Path]) -> str:
    import hashlib

    return hashlib.sha256("".join(content_hash(p) for p in paths).encode()).hexdigest()[:16]


def load_raw(
    task: Task | str,
    source: SourceSpec,
    lang: str,
    *,
    validation_fraction: float = 0.05,
    split_seed: int = 0,
    revision: str | None = None,
    max_documents: int | None = None,
) -> datasets.DatasetDict:
    """The raw data of ``task`` in ``lang`` from ``source``: checked, restricted to the task's columns.

    Returns splits ``train`` and ``validation`` (and ``test`` where the source has one). NER and NLI
    sources must provide a validation split. An MLM source without one (a Wikipedia dump has only
    ``train``) has its DOCUMENTS split into disjoint train / validation sets, ``validation_fraction`` of
    them for validation, with ``split_seed``: a property of the source, the same for every run seed.

    From the hub only the needed parquet files are read, at ``revision`` (branch, tag or commit; None = the
    hub's ``main``; resolved to a commit); Wikipedia is streamed: ``max_documents`` articles (None: all) in an
    order shuffled with ``split_seed``. ``raw.provenance`` records what was read (see :func:`provenance`).
    Raises ValueError (unknown language, schema problems, a revision for a local source) or FileNotFoundError
    (missing local files).
    """
    import datasets

    task = _resolve_task(task)
    label = source_label(task, source, lang)
    documents = task.name == "mlm"
    if _is_hub(source):
        options = {"revision": revision}
        if documents:
            options.update(max_documents=max_documents, seed=split_seed)
        raw, reads = HUB_LOADERS[task.name](lang, **options)
        if "validation" not in raw and not documents:
            raise ValueError(f"{label}: no 'validation' split (has {list(raw)})")
        record = {"kind": "hub", "reads": reads, "revision": reads[0]["revision"]}
    else:
        if revision is not None:
            raise ValueError(f"{label}: data.revision {revision!r} is set, but the source is local (no revisions)")
        local = _localize(source, lang)
        raw = load_local(local, required=("train",) if documents else ("train", "validation"))
        record = _local_record(local)
    raw = datasets.DatasetDict(raw)
    record["rows_read"] = {split: len(dataset) for split, dataset in raw.items()}
    for split, dataset in raw.items():
        task.check_raw(dataset, label, split)
    if "validation" not in raw:
        raw["train"], raw["validation"] = split_documents(raw["train"], validation_fraction, split_seed, label)
        for split in ("train", "validation"):
            task.check_raw(raw[split], label, split)
        record["validation_split_off"] = {"fraction": validation_fraction, "seed": split_seed}
    out = datasets.DatasetDict({split: ds.select_columns(list(task.raw_columns)) for split, ds in raw.items()})
    record.update(task=task.name, language=lang, source=label, rows={split: len(ds) for split, ds in out.items()})
    out.provenance = record
    return out


def load_parallel(
    source: str | os.PathLike = HUB,
    *,
    src: str = "en",
    tgt: str = "fr",
    split: str = "test",
    revision: str | None = None,
    return_info: bool = False,
) -> tuple[list[str], list[str]] | tuple[list[str], list[str], dict]:
    """Aligned sentence lists (``src_sentences[i]`` translates ``tgt_sentences[i]``).

    ``source`` is ``"hub"`` (WMT14; the paper uses the en-fr test set, 3003 pairs) or a local path in the
    same schema, a ``translation`` column of dicts keyed by language code: a ``.jsonl`` / ``.parquet``
    file, a saved dataset, or a directory with one file per split. ``{src}`` and ``{tgt}`` in the path are
    replaced by the languages. From the hub only the files of ``split`` are read, at ``revision`` (None: main).
    With ``return_info`` a third item records what was read (hub: repo, commit, files, rows; local: path, hash).
    """
    if _is_hub(source):
        label = f"hub:{hub.WMT14_ID}:{tgt if src == 'en' else src}-en"
        dataset, info = hub.load_wmt14(src, tgt, split, revision=revision)
        info = {"kind": "hub", **info}
    else:
        path = _fill(source, src=src, tgt=tgt)
        label = str(path)
        info = {"kind": "local", "path": str(path), "revision": "local", "content_hash": content_hash(path)}
        if path.is_dir() and not (path / "state.json").is_file():  # not a single saved split
            dataset = load_local(path, required=(split,))[split]
        else:
            dataset = load_split_file(path)
    if len(dataset) == 0:
        raise ValueError(f"{label} [split {split!r}]: the split is empty")
    if "translation" not in dataset.column_names:
        raise ValueError(f"{label} [split {split!r}]: missing column 'translation'; present: {dataset.column_names}")
    sources, targets = [], []
    for row, pair in enumerate(dataset["translation"]):
        if not isinstance(pair, dict) or not isinstance(pair.get(src), str) or not isinstance(pair.get(tgt), str):
            raise ValueError(f"{label} [split {split!r}]: row {row}: 'translation' lacks {src!r} or {tgt!r} text")
        sources.append(pair[src])
        targets.append(pair[tgt])
    return (sources, targets, info) if return_info else (sources, targets)


def load_parallel_premises(
    source: str | os.PathLike = HUB, *, lang: str = "en", split: str = "test", revision: str | None = None
) -> list[str]:
    """The premises of parallel NLI items in ``lang``, each once, in item order (SVCCA / PWCCA inputs).

    XNLI's validation and test sets are translations of the same items, row for row, in every language, and
    each premise comes with three hypotheses: the distinct premises in order of first appearance are parallel
    across languages. ``source`` is ``"hub"`` (XNLI) or a local path containing ``{lang}`` in XNLI's schema
    (the toy world's ``parallel_nli/{lang}``). From the hub only the files of ``split`` are read.
    """
    if _is_hub(source):
        label = f"hub:{hub.XNLI_ID}:{lang}"
        dataset = hub.load_xnli(lang, revision=revision, splits=(split,))[0][split]
    else:
        path = _fill(source, lang=lang)
        label = str(path)
        dataset = load_local(path, required=(split,))[split] if path.is_dir() else load_split_file(path)
    if "premise" not in dataset.column_names:
        raise ValueError(f"{label} [split {split!r}]: missing column 'premise'; present: {dataset.column_names}")
    premises = list(dict.fromkeys(dataset["premise"]))
    if not premises:
        raise ValueError(f"{label} [split {split!r}]: the split is empty")
    return premises
