"""GPU placement (subnets.devices) on a faked device list: no GPU is needed.

- concurrent processes claim distinct devices; a process that finds every device claimed waits, and gets the
  device of a process that ends;
- in one process: claims narrow CUDA_VISIBLE_DEVICES, a released device is claimed again, multi-GPU claims
  take distinct devices;
- nothing happens under SLURM, for a job that asks for no GPU, or when there is none;
- a job trains in one process per GPU it claimed (or SLURM gave it) and CUDA sees;
- the lock directory is made with mode 0700 and refused when it is a link, not ours, or writable by others; a
  lock file planted as a link is refused and its target left untouched; lock files are never truncated.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time

import pytest

from subnets.devices import UnsafeLockDir, claim_gpus, lock_file_name, prepare_lock_dir, visible_devices

FAKE = ["0", "1", "2"]

# Claims one device, prints it, then holds it until its stdin closes.
HOLDER = "import sys; from subnets.devices import claim_gpus; claim_gpus(1, poll_seconds=0.05); " \
         "import os; print(os.environ['CUDA_VISIBLE_DEVICES'], flush=True); sys.stdin.read()"


def _holder(tmp_path) -> subprocess.Popen:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(FAKE), "SUBNETS_GPU_LOCK_DIR": str(tmp_path)}
    env.pop("SLURM_JOB_ID", None)
    return subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env)  # fmt: skip


@pytest.fixture
def no_slurm(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", ",".join(FAKE))


def test_concurrent_processes_claim_distinct_devices_and_reuse_a_released_one(tmp_path):
    holders = [_holder(tmp_path) for _ in FAKE]
    claimed = [h.stdout.readline().strip() for h in holders]
    assert sorted(claimed) == FAKE

    waiting = _holder(tmp_path)
    time.sleep(0.5)
    assert waiting.poll() is None  # still waiting: every device is held
    holders[1].stdin.close()  # that process ends, and the kernel drops its lock
    holders[1].wait(timeout=10)
    assert waiting.stdout.readline().strip() == claimed[1]
    for process in [*holders[:1], *holders[2:], waiting]:
        process.stdin.close()
        process.wait(timeout=10)


def test_claims_in_one_process_narrow_the_visible_devices(tmp_path, no_slurm):
    first = claim_gpus(1, lock_dir=tmp_path)
    assert first.devices == ["0"]
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"
    pair = claim_gpus(2, devices=FAKE, lock_dir=tmp_path)
    assert pair.devices == ["1", "2"]
    first.release()
    again = claim_gpus(1, devices=FAKE, lock_dir=tmp_path)
    assert again.devices == ["0"]
    for claim in (pair, again):
        claim.release()
    with pytest.raises(ValueError, match="asks for 4 GPUs but only 3 are visible"):
        claim_gpus(4, devices=FAKE, lock_dir=tmp_path)


def test_nothing_happens_under_slurm_without_gpus_or_for_cpu_jobs(tmp_path, no_slurm, monkeypatch):
    assert claim_gpus(0, lock_dir=tmp_path) is None
    assert claim_gpus(1, devices=[], lock_dir=tmp_path) is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_devices() == []
    assert claim_gpus(1, lock_dir=tmp_path) is None
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert claim_gpus(1, devices=FAKE, lock_dir=tmp_path) is None
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    assert list(tmp_path.iterdir()) == []


def test_a_job_trains_in_one_process_per_gpu_it_may_use(tmp_path, no_slurm, monkeypatch):
    import torch

    from subnets.devices import training_processes

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    assert training_processes(None) == 1  # a local job that claimed no GPU
    pair = claim_gpus(2, lock_dir=tmp_path)
    assert training_processes(pair) == 2
    pair.release()
    assert training_processes(claim_gpus(1, lock_dir=tmp_path)) == 1
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)  # devices CUDA does not see: no driver, fakes
    assert training_processes(pair) == 1
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")  # what SLURM gave the job
    assert training_processes(None) == 2
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")  # a SLURM job given no GPU
    assert training_processes(None) == 1


def test_the_lock_directory_is_created_private(tmp_path, no_slurm, monkeypatch):
    lock_dir = tmp_path / "deeper" / "locks"
    monkeypatch.setenv("SUBNETS_GPU_LOCK_DIR", str(lock_dir))
    old = os.umask(0)  # even with a permissive umask
    try:
        claim = claim_gpus(1)
    finally:
        os.umask(old)
    assert stat.S_IMODE(lock_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((lock_dir / "gpu-0.lock").stat().st_mode) == 0o600
    claim.release()


def test_a_symlinked_lock_directory_is_refused(tmp_path, no_slurm):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "locks"
    link.symlink_to(real)
    with pytest.raises(UnsafeLockDir, match="is a symbolic link"):
        claim_gpus(1, lock_dir=link)
    assert list(real.iterdir()) == []


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777, 0o1777])
def test_a_lock_directory_others_may_write_to_is_refused(tmp_path, no_slurm, mode):
    shared = tmp_path / "locks"
    shared.mkdir()
    shared.chmod(mode)
    with pytest.raises(UnsafeLockDir, match="writable by group or others"):
        claim_gpus(1, lock_dir=shared)
    assert list(shared.iterdir()) == []


def test_a_lock_directory_of_another_user_or_not_a_directory_is_refused(tmp_path, no_slurm, monkeypatch):
    theirs = tmp_path / "locks"
    theirs.mkdir(mode=0o700)
    monkeypatch.setattr(os, "geteuid", lambda: os.stat(theirs).st_uid + 1)  # as if someone else had made it
    with pytest.raises(UnsafeLockDir, match="is owned by user id"):
        prepare_lock_dir(theirs)
    monkeypatch.undo()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(UnsafeLockDir, match="is not a directory"):
        prepare_lock_dir(a_file)


def test_a_planted_symlink_lock_file_is_refused_and_its_target_untouched(tmp_path, no_slurm):
    lock_dir = tmp_path / "locks"
    lock_dir.mkdir(mode=0o700)
    victim = tmp_path / "precious.txt"
    victim.write_text("do not truncate me\n")
    (lock_dir / "gpu-0.lock").symlink_to(victim)
    (lock_dir / "gpu-1.lock").symlink_to(tmp_path / "would-be-created")  # a dangling link: nothing created
    for devices in (["0"], ["1"]):
        with pytest.raises(UnsafeLockDir, match="is a symbolic link"):
            claim_gpus(1, devices=devices, lock_dir=lock_dir)
    assert victim.read_text() == "do not truncate me\n"
    assert not (tmp_path / "would-be-created").exists()
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ",".join(FAKE)  # nothing was claimed
    # A device after a good one: the good one's lock is released again, not leaked.
    with pytest.raises(UnsafeLockDir):
        claim_gpus(2, devices=["2", "0"], lock_dir=lock_dir)
    again = claim_gpus(1, devices=["2"], lock_dir=lock_dir, poll_seconds=0.01)
    assert again.devices == ["2"]
    again.release()


def test_lock_files_are_not_truncated_and_device_ids_stay_inside_the_directory(tmp_path, no_slurm):
    lock_dir = tmp_path / "locks"
    lock_dir.mkdir(mode=0o700)
    (lock_dir / "gpu-0.lock").write_text("kept")
    claim = claim_gpus(1, devices=["0"], lock_dir=lock_dir)
    assert (lock_dir / "gpu-0.lock").read_text() == "kept"
    claim.release()
    assert lock_file_name("MIG-GPU-1234/1/0") == "gpu-MIG-GPU-1234_1_0.lock"
    assert lock_file_name("../../x") == "gpu-.._.._x.lock"
    claim = claim_gpus(1, devices=["../../x"], lock_dir=lock_dir)
    assert sorted(p.name for p in lock_dir.iterdir()) == ["gpu-.._.._x.lock", "gpu-0.lock"]
    claim.release()
