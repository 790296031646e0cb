"""GPU placement (subnets.devices) on a faked device list: no GPU is needed.

- concurrent processes claim distinct devices; a process that finds every device claimed waits, and gets the
  device of a process that ends;
- in one process: claims narrow CUDA_VISIBLE_DEVICES, a released device is claimed again, multi-GPU claims
  take distinct devices;
- nothing happens under SLURM, for a job that asks for no GPU, or when there is none;
- a job trains in one process per GPU it claimed (or SLURM gave it) and CUDA sees.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from subnets.devices import claim_gpus, visible_devices

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
