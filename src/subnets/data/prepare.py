"""Subsample, tokenise once and save a task's dataset, ready for every training job of that task/language.

The output is a ``DatasetDict.save_to_disk`` directory with splits ``train`` and ``validation`` plus an
``info.json`` (sizes, seed, source, tokenizer, max_length, task options). It is written atomically:
nothing appears under the final name unless everything succeeded.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
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


def take_tokenized(
    raw: datasets.Dataset,
    task: Task,
    tokenizer: PreTrainedTokenizerBase,
    n: int,
    *,
    max_length: int,
    split: str,
    seed: int,
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
) -> Path:
    """Check ``raw``, subsample ``n_train`` / ``n_eval`` rows with ``seed``, tokenise, save to ``out_dir``.

    ``raw`` needs splits ``train`` and ``validation`` (``load_raw`` gives them); its ``validation`` split
    becomes the saved ``validation``. The schema of both is checked before any tokenisation. ``source``
    (e.g. from ``source_label``) goes into ``info.json`` and error messages. Returns ``out_dir``.
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

    prepared, sizes = {}, {}
    for split, n in (("train", n_train), ("validation", n_eval)):
        prepared[split], sizes[split] = take_tokenized(
            raw[split], task, tokenizer, n, max_length=max_length, split=split, seed=seed
        )
        if len(prepared[split]) == 0:
            raise ValueError(f"{source} [split {split!r}]: no {task.name} examples left after tokenisation")

    info = {
        "task": task.name,
        "task_options": dataclasses.asdict(task),
        "source": source,
        "seed": seed,
        "max_length": max_length,
        "tokenizer": tokenizer.name_or_path,
        "splits": sizes,
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
