"""GPU placement for local runs: each training job claims GPUs of its own.

Snakemake only counts a ``gpu`` resource (``--resources gpu=N``); it never tells a job which device to use, so
without help every concurrent job would land on device 0. A job therefore claims free devices itself, from the
visible ones, with one lock file per device (``fcntl.flock``) in a lock directory shared by all jobs on the
machine, and narrows ``CUDA_VISIBLE_DEVICES`` to them. The kernel releases a flock when its process ends, however
it ends (SIGKILL included), so a crashed job never leaves a device claimed.

The lock directory has a predictable name under /tmp, where anyone can create files: it is made with mode 0700
and used only when it is a real directory (not a link) owned by this user that nobody else may write to; lock
files are opened without following links, without truncating, with mode 0600. So a link planted in its place
or inside it can never make a job truncate or create a file elsewhere.

This must run before torch initialises CUDA (CUDA reads ``CUDA_VISIBLE_DEVICES`` once): call it at the very top
of a job's script. This module imports nothing heavy for that reason. Under SLURM it does nothing: SLURM has
already given the job its own devices. :func:`training_processes` then says how many processes the job trains
in: one per GPU it may use (data-parallel, :mod:`subnets.parallel`, when more than one).
"""

from __future__ import annotations

import errno
import fcntl
import getpass
import os
import re
import socket
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

LOCK_DIR_ENV = "SUBNETS_GPU_LOCK_DIR"


@dataclass
class GpuClaim:
    """Devices held by this process until :meth:`release` or the process's end."""

    devices: list[str]
    _locks: list[int] = field(default_factory=list, repr=False)  # file descriptors

    def release(self) -> None:
        for fd in self._locks:
            os.close(fd)  # closing the only descriptor drops its flock
        self._locks.clear()


# Claims live as long as the process (their descriptors stay open until released).
_HELD: list[GpuClaim] = []


def default_lock_dir() -> Path:
    """Shared by every workflow of this user on this machine: two studies run side by side share the GPUs too."""
    return Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / f"subnets-gpu-locks-{getpass.getuser()}")


class UnsafeLockDir(RuntimeError):
    """A private directory (GPU locks, warm start) or a lock file in it could be controlled by someone else; the
    message says how."""


def prepare_lock_dir(lock_dir: str | Path, *, what: str = "GPU lock directory", env: str = LOCK_DIR_ENV) -> Path:
    """Create ``lock_dir`` (mode 0700) if missing and check that only this user controls it.

    Raises :class:`UnsafeLockDir` when it is a symbolic link, not a directory, owned by another user, or
    writable by group or others: in a shared /tmp, another user could have made it to plant links in it.
    ``what`` names the directory in the message and ``env`` the variable that chooses another one (the warm-start
    directory of :mod:`subnets.warm` is checked the same way).
    """
    lock_dir = Path(lock_dir)
    lock_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        lock_dir.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = os.lstat(lock_dir)
    fix = f"remove it, or set {env} to a directory of your own"
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeLockDir(f"{what} {lock_dir} is a symbolic link (to {os.readlink(lock_dir)}); {fix}")
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeLockDir(f"{what} {lock_dir} exists and is not a directory; {fix}")
    if info.st_uid != os.geteuid():
        raise UnsafeLockDir(
            f"{what} {lock_dir} is owned by user id {info.st_uid}, not by this user ({os.geteuid()}); {fix}"
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeLockDir(
            f"{what} {lock_dir} is writable by group or others (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"run chmod go-w {lock_dir}, or set {env} to a directory of your own"
        )
    return lock_dir


def lock_file_name(device: str) -> str:
    """The lock file of a device id (an index or a UUID such as GPU-... or MIG-.../1/0): a plain file name."""
    return "gpu-" + re.sub(r"[^A-Za-z0-9_.-]", "_", device) + ".lock"  # no "/": always a name in the directory


def open_lock_file(path: Path) -> int:
    """Open (creating, mode 0600) a lock file in a checked directory: never through a link, never truncating it."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafeLockDir(f"lock file {path} is a symbolic link; remove it") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafeLockDir(f"lock file {path} is not a regular file; remove it")
    return fd


def visible_devices() -> list[str]:
    """The device ids this process may use: ``CUDA_VISIBLE_DEVICES`` when set, else every GPU nvidia-smi lists.

    Not ``torch.cuda.device_count()``: it initialises CUDA in this process, after which narrowing
    ``CUDA_VISIBLE_DEVICES`` has no effect.
    """
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [device.strip() for device in listed.split(",") if device.strip()]
    try:
        found = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return []  # no driver, no GPU
    return [line.strip() for line in found.stdout.splitlines() if line.strip()]


def _try_claim(devices: list[str], count: int, lock_dir: Path) -> GpuClaim | None:
    """Lock ``count`` free devices without waiting, or none: holding some while waiting for others could deadlock
    two multi-GPU jobs."""
    claim = GpuClaim([])
    for device in devices:
        try:
            fd = open_lock_file(lock_dir / lock_file_name(device))
        except BaseException:
            claim.release()
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        claim.devices.append(device)
        claim._locks.append(fd)
        if len(claim.devices) == count:
            return claim
    claim.release()
    return None


def claim_gpus(
    count: int, *, devices: list[str] | None = None, lock_dir: str | Path | None = None, poll_seconds: float = 2.0
) -> GpuClaim | None:
    """Claim ``count`` of the visible GPUs (waiting while others hold them) and make only those visible.

    Returns None, changing nothing, when ``count`` is 0, when SLURM runs this job (``SLURM_JOB_ID``: it sets
    ``CUDA_VISIBLE_DEVICES`` itself) or when there is no GPU. ``devices`` overrides the visible devices. The lock
    directory must be safe (:func:`prepare_lock_dir`; :class:`UnsafeLockDir` otherwise).
    """
    if count < 1 or "SLURM_JOB_ID" in os.environ:
        return None
    devices = visible_devices() if devices is None else devices
    if not devices:
        return None
    if count > len(devices):
        raise ValueError(f"a job asks for {count} GPUs but only {len(devices)} are visible: {','.join(devices)}")
    lock_dir = prepare_lock_dir(lock_dir if lock_dir is not None else default_lock_dir())
    announced = False
    while (claim := _try_claim(devices, count, lock_dir)) is None:
        if not announced:
            announced = True
            print(f"all of GPUs {','.join(devices)} are claimed by other jobs (locks in {lock_dir}); waiting",
                  file=sys.stderr)  # fmt: skip
        time.sleep(poll_seconds)
    _HELD.append(claim)
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(claim.devices)
    print(f"claimed GPU {','.join(claim.devices)} (locks in {lock_dir})", file=sys.stderr)
    return claim


def training_processes(claim: GpuClaim | None) -> int:
    """How many processes a training job trains in: one per GPU it may use, so more than one means
    data-parallel training (:mod:`subnets.parallel`).

    The GPUs are the ones this job claimed (``claim``, from :func:`claim_gpus`) or, under SLURM, the ones SLURM
    gave it (``CUDA_VISIBLE_DEVICES``; a SLURM job that was given none trains in one process), counted only as
    far as CUDA sees them: without a driver, or with devices that are not GPUs, it is one process. Call it after
    :func:`claim_gpus`; it does not initialise CUDA (torch counts the devices through NVML).
    """
    if claim is not None:
        devices = claim.devices
    elif "SLURM_JOB_ID" in os.environ and os.environ.get("CUDA_VISIBLE_DEVICES"):
        devices = visible_devices()
    else:
        return 1
    if len(devices) < 2:
        return 1
    import torch

    return max(1, min(len(devices), torch.cuda.device_count()))


def runtime_info() -> dict[str, str | None]:
    """Where a job ran, for its metrics: host, SLURM job id (None outside SLURM) and the GPUs it could see."""
    return {
        "host": socket.gethostname(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
