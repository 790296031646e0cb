"""Datasets from local files in the hub schema: JSON lines, parquet, or ``save_to_disk`` directories.

The toy world and any user-provided data come in through here, then go down the same path as hub data.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datasets

SPLITS: tuple[str, ...] = ("train", "validation", "test")
FILE_SUFFIXES: tuple[str, ...] = (".jsonl", ".json", ".parquet")

PathLike = str | os.PathLike


def content_hash(path: PathLike, length: int = 16) -> str:
    """A short sha256 over every file below ``path`` (relative names and bytes, in name order), or of one file:
    what a local source or model directory is recorded by, in place of a hub commit."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for file in files:
        digest.update((file.name if file == path else file.relative_to(path).as_posix()).encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:length]


def load_split_file(path: PathLike) -> datasets.Dataset:
    """One split from a ``.jsonl`` / ``.json`` / ``.parquet`` file or a ``Dataset.save_to_disk`` directory."""
    import datasets

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"local data file not found: {path}")
    if path.is_dir():
        loaded = datasets.load_from_disk(str(path))
        if not isinstance(loaded, datasets.Dataset):
            raise ValueError(f"{path} holds several splits (a DatasetDict), expected a single split")
        return loaded
    if path.suffix not in FILE_SUFFIXES:
        raise ValueError(f"{path}: unsupported format {path.suffix!r}; use one of {', '.join(FILE_SUFFIXES)}")
    if path.stat().st_size == 0:  # the json reader fails on empty files; let the schema check report it
        return datasets.Dataset.from_dict({})
    if path.suffix == ".parquet":
        return datasets.Dataset.from_parquet(str(path))
    return datasets.Dataset.from_json(str(path))


def split_candidates(directory: Path, split: str) -> list[Path]:
    """Where a directory may hold ``split``: ``<split>.jsonl|json|parquet`` or a ``<split>/`` saved dataset."""
    return [directory / f"{split}{suffix}" for suffix in FILE_SUFFIXES] + [directory / split]


def find_split(directory: Path, split: str) -> Path | None:
    found = [p for p in split_candidates(directory, split) if p.exists()]
    if len(found) > 1:
        raise ValueError(f"{directory}: split {split!r} is ambiguous, found {[p.name for p in found]}")
    return found[0] if found else None


def load_local(
    spec: PathLike | Mapping[str, PathLike], required: tuple[str, ...] = ("train", "validation")
) -> datasets.DatasetDict:
    """Load a local source.

    ``spec`` is either a mapping split -> file (or saved directory), or a directory that holds either a
    ``DatasetDict.save_to_disk`` or one file per split (``train.jsonl``, ``validation.parquet``, a
    ``test/`` saved dataset, ...). Every split in ``required`` must be there: FileNotFoundError otherwise,
    naming the paths looked for.
    """
    import datasets

    if isinstance(spec, Mapping):
        paths = {split: Path(path) for split, path in spec.items()}
        missing = [split for split in required if split not in paths]
        if missing:
            raise FileNotFoundError(f"local data source {dict(spec)} names no file for split(s) {missing}")
        return datasets.DatasetDict({split: load_split_file(path) for split, path in paths.items()})

    directory = Path(spec)
    if not directory.exists():
        raise FileNotFoundError(f"local data source not found: {directory}")
    if not directory.is_dir():
        raise ValueError(f"local data source {directory} is a file: give a directory or a mapping split -> file")
    if (directory / "dataset_dict.json").is_file():
        loaded = datasets.load_from_disk(str(directory))
        missing = [split for split in required if split not in loaded]
        if missing:
            raise FileNotFoundError(f"{directory}: saved dataset has no split(s) {missing} (has {list(loaded)})")
        return loaded
    found = {split: find_split(directory, split) for split in SPLITS}
    for split in required:
        if found[split] is None:
            looked = ", ".join(str(p) for p in split_candidates(directory, split))
            raise FileNotFoundError(f"local data source {directory} has no {split!r} split: looked for {looked}")
    return datasets.DatasetDict({split: load_split_file(path) for split, path in found.items() if path is not None})
