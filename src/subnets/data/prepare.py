"""Subsample, tokenise once and save a task's dataset, ready for every training job of that task/language.

The output is a ``DatasetDict.save_to_disk`` directory with splits ``train`` and ``validation`` plus an
``info.json`` (sizes, seed, source, tokenizer, max_length, task options, and what was read from the source:
repo, revision and commit, files, rows). It is written atomically: nothing appears under the final name unless
everything succeeded.

Sizes the source cannot give (WikiAnn ur has 1,000 validation rows, not the paper's 10,000; sw has 1,000
training rows; a small Wikipedia cannot give 1.6M blocks) are reported BEFORE the long work: a
:class:`DataSizeWarning` naming task, language, split, the size asked for and the size available (also kept in
``info.json`` under ``size_shortfalls``), or, with ``exact_sizes=True``, a ValueError. For NER and NLI the check
is exact and comes before any tokenisation; for MLM (blocks per document are known only once documents are
tokenised) an estimate after the first chunk warns early, and the final count decides.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from subnets.io import atomic_path

if TYPE_CHECKING:
    import datasets
    from transformers import PreTrainedTokenizerBase

    from subnets.tasks import Task

INFO_FILE = "info.json"
PREPARED_SPLITS: tuple[str, ...] = ("train", "validation")
FIRST_CHUNK = 10_000  # raw rows tokenised before the yield of rows per raw row is known


class DataSizeWarning(UserWarning):
    """A split gives fewer examples than the config asks for."""


def size_shortfall(
    task: str, lang: str, split: str, requested: int, available: int, unit: str, *, exact: bool, estimate: bool = False
) -> dict:
    """Report that ``split`` has fewer ``unit`` than ``requested``: a DataSizeWarning, or with ``exact`` a
    ValueError (an estimate never raises: only the final count can). Returns the record for ``info.json``."""
    about = "about " if estimate else ""
    message = (
        f"{task} {lang} [split {split!r}]: asked for {requested} {unit}, the source has {about}{available}"
        + (" (estimated from the first chunk)" if estimate else "")
    )
    if exact and not estimate:
        raise ValueError(message + "; data.exact_sizes is true (set it false to train on what there is)")
    warnings.warn(message + "; continuing with what there is", DataSizeWarning, stacklevel=3)
    return {"split": split, "requested": requested, "available": available, "unit": unit, "estimate": estimate}


def take_tokenized(
    raw: datasets.Dataset,
    task: Task,
    tokenizer: PreTrainedTokenizerBase,
    n: int,
    *,
    max_length: int,
    split: str,
    seed: int,
    on_estimate=None,
) -> tuple[datasets.Dataset, dict]:
    """The first ``n`` tokenised rows of ``raw`` shuffled with ``seed``, and how they were obtained.

    For NER and NLI one raw row gives one tokenised row, so this is ``raw.shuffle(seed).select(range(n))``
    tokenised. For MLM a document gives any number of blocks, and ``n`` counts blocks: shuffled documents
    are tokenised chunk by chunk, each chunk sized from the blocks-per-document rate seen so far, until
    ``n`` blocks are in hand, so that only about the documents needed are tokenised (not a whole
    Wikipedia). If the source runs out, all rows are taken and ``exhausted`` is recorded.
    """
    import datasets

    shuffled = raw.shuffle(seed=seed)
    pieces, have, used = [], 0, 0
    chunk = min(n, FIRST_CHUNK)
    while have < n and used < len(shuffled):
        stop = min(used + chunk, len(shuffled))
        piece = task.tokenize(
            shuffled.select(range(used, stop)), tokenizer, max_length=max_length, split=split, seed=seed
        )
        pieces.append(piece)
        have += len(piece)
        used = stop
        rate = have / used
        if len(pieces) == 1 and on_estimate is not None and have < n and used < len(shuffled):
            expected = int(rate * len(shuffled))
            if expected < n:
                on_estimate(expected)
        chunk = math.ceil(1.1 * (n - have) / rate) + 1 if rate > 0 else 2 * used
    tokenized = pieces[0] if len(pieces) == 1 else datasets.concatenate_datasets(pieces)
    if len(tokenized) > n:
        tokenized = tokenized.select(range(n))
    stats = {
        "requested": n,
        "size": len(tokenized),
        "raw_rows_available": len(raw),
        "raw_rows_used": used,
        "exhausted": len(tokenized) < n,
    }
    return tokenized, stats


def prepare_dataset(
    raw: datasets.DatasetDict,
    task: Task | str,
    tokenizer: PreTrainedTokenizerBase,
    out_dir: str | os.PathLike,
    *,
    n_train: int,
    n_eval: int,
    max_length: int,
    seed: int,
    source: str = "unspecified",
    lang: str | None = None,
    exact_sizes: bool = False,
    provenance: dict | None = None,
) -> Path:
    """Check ``raw``, subsample ``n_train`` / ``n_eval`` rows with ``seed``, tokenise, save to ``out_dir``.

    ``raw`` needs splits ``train`` and ``validation`` (``load_raw`` gives them); its ``validation`` split
    becomes the saved ``validation``. The schema of both is checked before any tokenisation. ``source``
    (e.g. from ``source_label``) goes into ``info.json`` and error messages. What was read (``provenance``,
    by default ``raw.provenance`` from ``load_raw``) goes into ``info.json`` as ``read``. A split smaller than
    asked for gives a DataSizeWarning naming task, ``lang`` (by default the provenance's), split, asked and
    available sizes, or with ``exact_sizes`` a ValueError (see the module doc). Returns ``out_dir``.
    """
    import datasets

    from subnets.tasks import get_task

    task = get_task(task) if isinstance(task, str) else task
    if n_train < 1 or n_eval < 1:
        raise ValueError(f"n_train and n_eval must be positive, got {n_train} and {n_eval}")
    missing = [split for split in PREPARED_SPLITS if split not in raw]
    if missing:
        raise ValueError(f"{source}: no split(s) {missing} to prepare (has {list(raw)})")
    for split in PREPARED_SPLITS:
        task.check_raw(raw[split], source, split)
    if provenance is None:
        provenance = getattr(raw, "provenance", None)
    if lang is None:
        lang = (provenance or {}).get("language", source)

    documents = task.name == "mlm"  # one raw row (a document) gives any number of blocks
    unit = "blocks" if documents else "rows"
    requested = {"train": n_train, "validation": n_eval}
    shortfalls = []
    if not documents:  # exact, before any tokenisation
        for split, n in requested.items():
            if len(raw[split]) < n:
                shortfalls.append(size_shortfall(task.name, lang, split, n, len(raw[split]), unit, exact=exact_sizes))

    prepared, sizes = {}, {}
    for split, n in requested.items():
        warned = []

        def early(expected: int, split=split, n=n, warned=warned) -> None:
            warned.append(size_shortfall(task.name, lang, split, n, expected, unit, exact=exact_sizes, estimate=True))

        prepared[split], sizes[split] = take_tokenized(
            raw[split], task, tokenizer, n, max_length=max_length, split=split, seed=seed,
            on_estimate=early if documents else None,
        )  # fmt: skip
        shortfalls.extend(warned)
        if len(prepared[split]) == 0:
            raise ValueError(f"{source} [split {split!r}]: no {task.name} examples left after tokenisation")
        if documents and sizes[split]["exhausted"]:
            shortfalls.append(
                size_shortfall(task.name, lang, split, n, len(prepared[split]), unit, exact=exact_sizes)
            )

    info = {
        "task": task.name,
        "task_options": dataclasses.asdict(task),
        "source": source,
        "seed": seed,
        "max_length": max_length,
        "tokenizer": tokenizer.name_or_path,
        "splits": sizes,
        "language": lang,
        "read": provenance,
        "size_shortfalls": shortfalls,
    }
    with atomic_path(out_dir) as tmp:
        datasets.DatasetDict(prepared).save_to_disk(str(tmp))
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return Path(out_dir)


def mix_prepared(
    parts: dict[str, str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    n_train: int,
    n_eval: int,
    seed: int,
) -> Path:
    """A multilingual dataset of the same size as one language's (the paper's Table 1): an equal share of each.

    ``parts`` maps language -> prepared dataset of one task. Each split takes ``n // len(parts)`` rows of each
    language (the first ones: prepared splits are already a seeded random subsample), then the whole split is
    shuffled with ``seed`` so that batches mix languages. Written atomically like :func:`prepare_dataset`.
    """
    import datasets

    if len(parts) < 2:
        raise ValueError(f"a mixture needs at least two languages, got {list(parts)}")
    loaded = {lang: load_prepared(path) for lang, path in parts.items()}
    infos = {lang: prepared_info(path) for lang, path in parts.items()}
    for key in ("task", "tokenizer", "max_length"):
        values = {lang: info[key] for lang, info in infos.items()}
        if len(set(map(str, values.values()))) != 1:
            raise ValueError(f"the datasets to mix differ in {key}: {values}")
    mixed, sizes = {}, {}
    for split, n in (("train", n_train), ("validation", n_eval)):
        share = n // len(parts)
        if share < 1:
            raise ValueError(f"{split}: {n} rows cannot be shared among {len(parts)} languages")
        pieces = []
        for lang, dataset in loaded.items():
            if len(dataset[split]) < share:
                raise ValueError(f"{parts[lang]} [split {split!r}]: {len(dataset[split])} rows, the mixture needs {share}")
            pieces.append(dataset[split].select(range(share)))
        mixed[split] = datasets.concatenate_datasets(pieces).shuffle(seed=seed).flatten_indices()
        sizes[split] = {"size": len(mixed[split]), "per_language": share}
    first = next(iter(infos.values()))
    info = {
        "task": first["task"],
        "task_options": first["task_options"],
        "source": "mixture of " + ", ".join(f"{lang} ({infos[lang]['source']})" for lang in parts),
        "languages": list(parts),
        "read": {lang: info.get("read") for lang, info in infos.items()},
        "seed": seed,
        "max_length": first["max_length"],
        "tokenizer": first["tokenizer"],
        "splits": sizes,
    }
    with atomic_path(out_dir) as tmp:
        datasets.DatasetDict(mixed).save_to_disk(str(tmp))
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return Path(out_dir)


def _require_prepared(path: Path) -> None:
    if not path.is_dir():
        raise FileNotFoundError(f"prepared dataset not found: {path}")
    for name in (INFO_FILE, "dataset_dict.json"):
        if not (path / name).is_file():
            raise ValueError(f"{path} is not a prepared dataset (no {name}); make it with prepare_dataset")


def load_prepared(path: str | os.PathLike) -> datasets.DatasetDict:
    """The tokenised splits written by ``prepare_dataset``."""
    import datasets

    path = Path(path)
    _require_prepared(path)
    loaded = datasets.load_from_disk(str(path))
    missing = [split for split in PREPARED_SPLITS if split not in loaded]
    if missing:
        raise ValueError(f"{path} is not a prepared dataset (no split(s) {missing})")
    return loaded


def prepared_info(path: str | os.PathLike) -> dict:
    """The ``info.json`` of a prepared dataset (sizes, seed, source, tokenizer, max_length, task options)."""
    path = Path(path)
    _require_prepared(path)
    return json.loads((path / INFO_FILE).read_text())
