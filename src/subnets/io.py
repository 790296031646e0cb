"""Atomic, durable writes: every output appears complete under its final name or not at all.

:func:`atomic_path` yields a temporary path inside a fresh directory ``.{name}.XXXXXXXX.tmp`` beside the output
(``tempfile.mkdtemp``), fsyncs what was written there, renames it into place and fsyncs the parent directory,
so that after a crash (power loss included) the output is either the old one or the complete new one.
A process killed with SIGKILL cannot remove its temporary directory: :func:`clean_stale_temporaries` removes
those of a job's outputs when the job starts again.

Because a replaced directory is deleted, :func:`atomic_path` refuses targets whose replacement would destroy
more than an output: ``.``, ``..``, the current working directory or any directory above it, a path leaving
the working directory, a repository checkout (see :func:`checked_target`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import stat
import sys
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

TMP_SUFFIX = ".tmp"
# tempfile.mkdtemp's random part: 8 characters of tempfile._RandomNameSequence.characters.
_RANDOM_PART = r"[a-z0-9_]{8}"
# Directory fsync is not supported everywhere (some network and FUSE file systems): there it is skipped.
_DIR_FSYNC_UNSUPPORTED = {errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF}


def checked_target(path: str | os.PathLike) -> Path:
    """``path`` as a Path, or ValueError (naming it) when replacing it could destroy more than one output.

    Refused: an empty path; a path whose last part is ``.`` or that has a ``..`` part anywhere (a wildcard
    such as a model name ``..`` would otherwise turn ``resources/models/{model}`` into ``resources``); the
    current working directory and every directory above it (the file system root, a checkout holding the
    study); the home directory; a relative path that leaves the working directory; an existing directory
    holding ``.git`` (a repository checkout). Paths are compared both as written (made absolute without
    following links) and resolved (links followed), so a link cannot smuggle an ancestor in.

    Absolute paths elsewhere (a temporary directory, a scratch file system) stay allowed: they are the caller's
    explicit choice, which the library API and its tests rely on; the workflow's outputs are relative.
    """
    raw = os.fspath(path)
    if not raw.strip():
        raise ValueError(f"refusing to write to an empty path ({raw!r})")
    parts = raw.replace(os.sep, "/").rstrip("/").split("/") if raw.strip("/") else []
    if not parts:
        raise ValueError(f"refusing to replace {raw!r}: it is the file system root")
    if parts[-1] == ".":
        raise ValueError(f"refusing to replace {raw!r}: its last part is '.' (a directory, not an output name)")
    if ".." in parts:
        raise ValueError(f"refusing to replace {raw!r}: it contains '..' (an output path must not climb up)")
    final = Path(raw)
    cwd = Path(os.getcwd())
    lexical = Path(os.path.abspath(raw))
    if not final.is_absolute() and cwd not in lexical.parents:
        raise ValueError(f"refusing to replace {raw!r}: it is outside the working directory {cwd}")
    resolved_cwd = cwd.resolve()
    try:
        home = Path.home().resolve()
    except (RuntimeError, KeyError):  # no home directory known
        home = None
    # What a rename replaces is the entry `name` in the (resolved) parent; resolving the whole path also
    # follows a final link, which is refused too when it points at an ancestor.
    for candidate, how in (
        (lexical, "as written"),
        (lexical.parent.resolve() / lexical.name, "resolved"),
        (lexical.resolve(), "resolved, links followed"),
    ):
        for base in {cwd, resolved_cwd}:
            if candidate == base:
                raise ValueError(f"refusing to replace {raw!r}: it is the working directory ({candidate}, {how})")
            if candidate in base.parents:
                raise ValueError(
                    f"refusing to replace {raw!r}: {candidate} ({how}) is an ancestor of the working directory {base}"
                )
        if home is not None and candidate == home:
            raise ValueError(f"refusing to replace {raw!r}: it is the home directory ({candidate}, {how})")
    if final.is_dir() and not final.is_symlink() and (final / ".git").exists():
        raise ValueError(f"refusing to replace {raw!r}: it is a repository checkout (holds .git)")
    return final


def _fsync_path(path: str | os.PathLike, directory: bool) -> None:
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    except OSError as error:
        if not directory or error.errno not in _DIR_FSYNC_UNSUPPORTED:
            raise
    finally:
        os.close(fd)


def fsync_tree(path: str | os.PathLike) -> None:
    """Flush ``path`` to stable storage: a file, or every file and directory of a directory tree (links are not
    followed, and other special files are skipped)."""
    path = Path(path)
    mode = os.lstat(path).st_mode
    if stat.S_ISREG(mode):
        _fsync_path(path, directory=False)
    elif stat.S_ISDIR(mode):
        for root, dirs, files in os.walk(path):
            for name in files:
                if stat.S_ISREG(os.lstat(os.path.join(root, name)).st_mode):
                    _fsync_path(os.path.join(root, name), directory=False)
            _fsync_path(root, directory=True)


def _make_parents(directory: Path) -> None:
    """``mkdir -p directory``, and make each directory it creates durable in its parent."""
    missing = []
    for candidate in (directory, *directory.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    if not missing:
        return
    directory.mkdir(parents=True, exist_ok=True)
    for created in reversed(missing):
        _fsync_path(created.parent, directory=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place, durably, only if the block succeeds.

    Works for files and directories alike: the caller writes whatever it wants at the yielded path. Before the
    rename the written file (or every file of the written tree) is fsynced, after it the parent directory. An
    existing directory at ``path`` is replaced: it is first renamed aside, so that at no moment is there
    neither the old output nor the new one for longer than two renames. ``path`` must pass
    :func:`checked_target` (ValueError otherwise, before anything is written).
    """
    final = checked_target(path)
    _make_parents(final.parent)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=TMP_SUFFIX, dir=final.parent))
    tmp = tmp_dir / final.name
    try:
        yield tmp
        fsync_tree(tmp)
        old = None
        if final.is_dir() and not final.is_symlink():
            old = tmp_dir / f"{final.name}.replaced"
            os.replace(final, old)
        try:
            os.replace(tmp, final)
        except BaseException:
            if old is not None:
                os.replace(old, final)
            raise
        _fsync_path(final.parent, directory=True)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def stale_temporary_pattern(path: str | os.PathLike) -> re.Pattern[str]:
    """The names of the temporary directories that :func:`atomic_path` makes for ``path``, beside it."""
    return re.compile(re.escape(f".{Path(path).name}.") + _RANDOM_PART + re.escape(TMP_SUFFIX))


def clean_stale_temporaries(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """Remove the temporary directories that interrupted :func:`atomic_path` writes of ``paths`` left behind.

    For each output path, only its own siblings named exactly ``.{name}.XXXXXXXX.tmp`` (what ``atomic_path``
    makes for that name) that are real directories (not links) owned by this user are removed; one line per
    removal goes to stderr. Call it when a job starts, before anything writes its outputs: a write still in
    progress for the same output would lose its temporary. Returns the removed directories.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    removed: list[Path] = []
    for path in paths:
        final = Path(path)
        if not final.name:
            continue
        pattern = stale_temporary_pattern(final)
        parent = final.parent
        try:
            entries = list(os.scandir(parent))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in sorted(entries, key=lambda entry: entry.name):
            if not pattern.fullmatch(entry.name):
                continue
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
                continue
            stale = parent / entry.name
            shutil.rmtree(stale)
            removed.append(stale)
            print(f"removed {stale}: temporary directory of an interrupted write of {final}", file=sys.stderr)
    return removed


def write_json(path: str | os.PathLike, obj) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
