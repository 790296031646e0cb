"""subnets.io: atomic writes refuse targets whose replacement would destroy more than an output; they are
durable (fsync of the written file or tree before the rename, of the parent directory after it); the temporary
directories of killed writes are cleaned, and nothing else.

Every test runs inside a sandbox (a temporary directory that is the working directory) and checks that nothing
outside it changed.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from subnets import io
from subnets.io import atomic_path, clean_stale_temporaries, write_json


def _snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` with its kind, size and modification time."""
    seen = {}
    for path in [root, *root.rglob("*")]:
        info = path.lstat()
        seen[str(path)] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return seen


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """``tmp_path/outer/study`` as the working directory, beside a sibling ``tmp_path/outer/other`` and
    ``tmp_path/keep`` (with files), so a write that escapes the working directory shows."""
    outer = tmp_path / "outer"
    study = outer / "study"
    (study / "resources" / "models" / "tiny").mkdir(parents=True)
    (study / "resources" / "models" / "tiny" / "weights.bin").write_bytes(b"w" * 10)
    (study / ".git").mkdir()
    (study / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (outer / "other").mkdir()
    (outer / "other" / "data.txt").write_text("other\n")
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "file.txt").write_text("keep\n")
    monkeypatch.chdir(study)
    before = _snapshot(tmp_path)
    yield study
    after = _snapshot(tmp_path)
    outside = {path for path in before.keys() | after.keys() if not path.startswith(str(study) + os.sep)}
    outside.discard(str(study))  # its own mtime changes when outputs appear in it
    assert {p: after.get(p) for p in outside} == {p: before.get(p) for p in outside}, "changed outside the sandbox"


@pytest.mark.parametrize(
    "target",
    [
        ".",
        "..",
        "./",
        "resources/models/..",  # a model name '..' in resources/models/{model}
        "resources/models/.",  # a model name '.'
        "resources/models/../..",
        "../other",
        "../other/data.txt",
        "resources/../../other",
        "",
    ],
)
def test_dot_and_dot_dot_targets_and_paths_leaving_the_working_directory_are_refused(sandbox, target):
    with pytest.raises(ValueError, match="refusing to (replace|write)"), atomic_path(target) as tmp:
        tmp.mkdir()
    assert (sandbox / "resources" / "models" / "tiny" / "weights.bin").read_bytes() == b"w" * 10


def test_the_working_directory_and_its_ancestors_are_refused_absolute_or_through_a_link(sandbox):
    (sandbox / "results").mkdir()
    (sandbox / "results" / "up").symlink_to(sandbox.parent)  # a link to the parent of the working directory
    targets = [sandbox, sandbox.parent, sandbox.parent.parent, Path("/"), "results/up"]
    for target in targets:
        with pytest.raises(ValueError, match=re.escape(repr(os.fspath(target)))), atomic_path(target) as tmp:
            tmp.mkdir()
    clone = sandbox / "vendor" / "repo"  # a checkout that is not an ancestor (it holds .git)
    (clone / ".git").mkdir(parents=True)
    with pytest.raises(ValueError, match="repository checkout"), atomic_path("vendor/repo") as tmp:
        tmp.mkdir()
    assert (clone / ".git").is_dir()


def test_the_home_directory_is_refused(sandbox, monkeypatch):
    home = sandbox.parent / "other"
    monkeypatch.setenv("HOME", str(home))
    with pytest.raises(ValueError, match="home directory"), atomic_path(home) as tmp:
        tmp.mkdir()


def test_a_refused_target_writes_nothing(sandbox):
    entries = sorted(p.name for p in (sandbox / "resources" / "models").iterdir())
    with pytest.raises(ValueError), atomic_path("resources/models/..") as tmp:
        pytest.fail(f"the block ran with {tmp}")
    assert sorted(p.name for p in (sandbox / "resources" / "models").iterdir()) == entries
    assert not list(sandbox.glob("resources/.*.tmp"))


def test_files_and_directories_are_written_and_replaced_inside_the_working_directory(sandbox):
    write_json("results/a/metrics.json", {"x": 1})
    assert (sandbox / "results/a/metrics.json").read_text() == '{\n  "x": 1\n}\n'
    write_json(sandbox / "results/a/metrics.json", {"x": 2})  # absolute, inside the working directory
    assert '"x": 2' in (sandbox / "results/a/metrics.json").read_text()
    for version in ("old", "new"):
        with atomic_path("resources/models/tiny") as tmp:
            tmp.mkdir()
            (tmp / f"{version}.bin").write_text(version)
    assert sorted(p.name for p in (sandbox / "resources/models/tiny").iterdir()) == ["new.bin"]
    assert sorted(p.name for p in (sandbox / "resources/models").iterdir()) == ["tiny"]  # no temporaries left
    with pytest.raises(RuntimeError), atomic_path("resources/models/tiny") as tmp:  # a failed write keeps the old
        tmp.mkdir()
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in (sandbox / "resources/models/tiny").iterdir()) == ["new.bin"]


def test_absolute_paths_outside_the_working_directory_stay_allowed(sandbox, tmp_path_factory):
    # The library API and its tests write to temporary directories; the workflow's outputs are relative.
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    write_json(elsewhere / "new.json", {})
    assert (elsewhere / "new.json").exists()


def _fd_path(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc to name descriptors")
def test_a_written_file_is_fsynced_before_the_rename_and_its_directory_after(sandbox, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(_fd_path(fd))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    with atomic_path("results/metrics.json") as tmp:
        tmp.write_text("{}")
        temporary = str(tmp.absolute())
    final, parent = str(sandbox / "results" / "metrics.json"), str(sandbox / "results")
    assert temporary in synced  # the file, under its temporary name: before the rename
    assert synced.index(temporary) < synced.index(parent)
    assert synced[-1] == parent  # the directory entry, after the rename
    assert str(sandbox) in synced  # results/ was created: its entry in the working directory is made durable
    assert final not in synced  # nothing is synced after the rename but the directory


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc to name descriptors")
def test_every_file_and_directory_of_a_written_tree_is_fsynced(sandbox, monkeypatch):
    synced: list[str] = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(_fd_path(fd)))
    with atomic_path("resources/models/new") as tmp:
        (tmp / "sub").mkdir(parents=True)
        (tmp / "a.bin").write_bytes(b"a")
        (tmp / "sub" / "b.bin").write_bytes(b"b")
        (tmp / "link").symlink_to("a.bin")  # not followed, not synced
        tmp = tmp.absolute()
        written = [str(tmp / "a.bin"), str(tmp / "sub" / "b.bin"), str(tmp / "sub"), str(tmp)]
    assert set(written) <= set(synced)
    assert synced[-1] == str(sandbox / "resources" / "models")
    assert len(synced) == len(written) + 1


def test_an_unsupported_directory_fsync_is_skipped_but_a_failed_file_fsync_fails_the_write(sandbox, monkeypatch):
    import errno

    def fsync(fd):
        if os.path.isdir(_fd_path(fd)):
            raise OSError(errno.EINVAL, "directory fsync not supported")

    monkeypatch.setattr(os, "fsync", fsync)
    write_json("results/ok.json", {})
    assert (sandbox / "results/ok.json").exists()

    def failing(fd):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "fsync", failing)
    with pytest.raises(OSError, match="I/O error"):
        write_json("results/bad.json", {})
    assert not (sandbox / "results/bad.json").exists()
    assert not list((sandbox / "results").glob(".*.tmp"))


KILLED_WRITER = """
import os, sys, time
from subnets.io import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.mkdir()
    (tmp / "part.bin").write_bytes(b"x")
    print("writing", flush=True)
    time.sleep(600)
"""


def test_a_killed_write_leaves_its_temporary_which_the_next_job_cleans(sandbox, capsys):
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, "resources/models/m"], stdout=subprocess.PIPE,
                              text=True, cwd=sandbox)  # fmt: skip
    assert writer.stdout.readline().strip() == "writing"
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    models = sandbox / "resources" / "models"
    leftover = [p for p in models.iterdir() if p.name.startswith(".m.")]
    assert len(leftover) == 1 and leftover[0].name.endswith(".tmp") and leftover[0].is_dir()

    # Look-alikes that are not atomic_path's temporaries of resources/models/m stay.
    (models / ".model.abcdefgh.tmp").mkdir()  # another output's
    (models / ".m.abcdefgh.tmp.keep").mkdir()  # not the exact pattern
    (models / ".m.abc.tmp").mkdir()  # not mkdtemp's 8 random characters
    (models / ".m.zzzzzzzz.tmp").write_text("a file")  # not a directory
    target = sandbox / "resources" / "models" / "tiny"
    (models / ".m.linkxxxx.tmp").symlink_to(target)  # a link: neither followed nor removed
    (sandbox / "results").mkdir()
    (sandbox / "results" / ".m.abcdefgh.tmp").mkdir()  # same name beside another output's path

    capsys.readouterr()
    removed = clean_stale_temporaries(["resources/models/m", "resources/models/absent", "nowhere/x/y"])
    assert removed == [Path("resources/models") / leftover[0].name]
    assert capsys.readouterr().err.splitlines() == [
        f"removed {removed[0]}: temporary directory of an interrupted write of resources/models/m"
    ]
    left = sorted(p.name for p in models.iterdir())
    assert left == sorted([".model.abcdefgh.tmp", ".m.abcdefgh.tmp.keep", ".m.abc.tmp", ".m.zzzzzzzz.tmp",
                           ".m.linkxxxx.tmp", "tiny"])  # fmt: skip
    assert (target / "weights.bin").exists()
    assert (sandbox / "results" / ".m.abcdefgh.tmp").is_dir()
    assert clean_stale_temporaries("resources/models/m") == []  # one path as well as several; nothing left


def test_the_pattern_is_what_atomic_path_makes(sandbox):
    seen = []
    for name in ("metrics.json", "a.b", "x+y(1)"):
        with atomic_path(f"results/{name}") as tmp:
            seen.append((name, tmp.parent.name))
            tmp.write_text("")
    for name, temporary in seen:
        assert io.stale_temporary_pattern(f"results/{name}").fullmatch(temporary), (name, temporary)
        assert not io.stale_temporary_pattern("results/other").fullmatch(temporary)


def test_cleaning_is_quick_and_quiet_when_there_is_nothing(sandbox, capsys):
    started = time.monotonic()
    assert clean_stale_temporaries([f"results/{i}/metrics.json" for i in range(200)]) == []
    assert time.monotonic() - started < 2
    assert capsys.readouterr().err == ""
