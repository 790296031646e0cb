"""A one-node SLURM cluster on this machine, with two fake GPUs, for tests of the SLURM profile.

What works here (see DESIGN.md, "SLURM on one machine"): Debian's slurm-wlm and munge from apt; munged, slurmctld
and slurmd as root, each in the foreground so that this module holds their process ids and stops exactly them;
no cgroups (proctrack/linuxproc, task/none), no accounting (so no sacct: status through squeue); GPUs as GRES
backed by /dev/null and /dev/zero, enough for scheduling (a --gpus=1 job sees CUDA_VISIBLE_DEVICES=0).
The configuration goes to /etc/slurm (state, spool and logs to a temporary directory): inside a job, srun finds
no other one (slurmd does not pass SLURM_CONF on to jobs). An /etc/slurm/slurm.conf that this module did not
write is never overwritten; the files it wrote are removed on stop.

Installing packages is allowed only in CI (CI=true) or with SUBNETS_INSTALL_SLURM=1; otherwise a missing SLURM is
reported as :class:`SlurmUnavailable`, which the tests turn into a skip with its reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

INSTALL_ENV = "SUBNETS_INSTALL_SLURM"
CONF_DIR = Path("/etc/slurm")
MARKER = "# written by the subnets test harness (tests/slurm_cluster.py); removed when its cluster stops\n"
PACKAGES = ("slurm-wlm", "munge")
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue")


class SlurmUnavailable(RuntimeError):
    """SLURM cannot be installed or started here; the message says why."""


def _installed() -> bool:
    return all(shutil.which(tool) or Path("/usr/sbin", tool).exists() for tool in DAEMONS)


def ensure_installed() -> None:
    """Install slurm-wlm and munge with apt when missing and allowed to."""
    if _installed():
        return
    if os.environ.get("CI") != "true" and os.environ.get(INSTALL_ENV) != "1":
        raise SlurmUnavailable(f"SLURM is not installed; set CI=true or {INSTALL_ENV}=1 to let the test apt-get it")
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SlurmUnavailable("SLURM is not installed and cannot be: installing it needs root and apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *PACKAGES]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0:
            raise SlurmUnavailable(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise SlurmUnavailable("cannot read MemTotal from /proc/meminfo")


def _slurm_conf(root: Path, host: str) -> str:
    # Leave some memory to the daemons and the test; slurmd refuses a node that claims more than it has.
    memory = max(1000, int(_memory_mb() * 0.9))
    lines = {
        "ClusterName": "subnets-test",
        "SlurmctldHost": host,
        "SlurmUser": "root",
        "SlurmdUser": "root",
        "AuthType": "auth/munge",
        "ProctrackType": "proctrack/linuxproc",
        "TaskPlugin": "task/none",
        "SelectType": "select/cons_tres",
        "SelectTypeParameters": "CR_Core_Memory",
        "AccountingStorageType": "accounting_storage/none",
        "JobAcctGatherType": "jobacct_gather/none",
        "GresTypes": "gpu",
        "ReturnToService": "2",
        "MpiDefault": "none",
        "StateSaveLocation": str(root / "state"),
        "SlurmdSpoolDir": str(root / "spool"),
        "SlurmctldPidFile": str(root / "slurmctld.pid"),
        "SlurmdPidFile": str(root / "slurmd.pid"),
        "SlurmctldLogFile": str(root / "slurmctld.log"),
        "SlurmdLogFile": str(root / "slurmd.log"),
    }
    text = MARKER + "".join(f"{key}={value}\n" for key, value in lines.items())
    text += f"NodeName={host} CPUs={os.cpu_count()} RealMemory={memory} Gres=gpu:2 State=UNKNOWN\n"
    text += f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP\n"
    return text


# squeue reasons of pending jobs that a one-node cluster's configuration can never satisfy (a partition's limits,
# constraints, or a GRES request beyond what the node has), as opposed to waiting for busy resources.
NEVER_SCHEDULABLE = ("PartitionConfig", "PartitionNodeLimit", "PartitionTimeLimit", "BadConstraints", "InvalidQOS",
                     "InvalidAccount", "ReqNodeNotAvail")  # fmt: skip


class SlurmCluster:
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager). Clients (sbatch, squeue,
    snakemake's SLURM plugin) find it through the default configuration path."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.host = socket.gethostname()
        self.conf = CONF_DIR / "slurm.conf"
        self.processes: dict[str, subprocess.Popen] = {}

    def __enter__(self) -> "SlurmCluster":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 60) -> None:
        if os.geteuid() != 0:
            raise SlurmUnavailable("the test cluster's daemons run as root; this is not root")
        if self.conf.exists() and not self.conf.read_text().startswith(MARKER):
            raise SlurmUnavailable(f"{self.conf} exists and is not this harness's: a real SLURM is configured here")
        for sub in ("state", "spool"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        CONF_DIR.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(_slurm_conf(self.root, self.host))
        (CONF_DIR / "gres.conf").write_text(MARKER + "Name=gpu File=/dev/null\nName=gpu File=/dev/zero\n")
        # Clients and slurmd talk to munge through its default socket; a private socket would need every client
        # to be told about it, so the default one is used and this cluster refuses to start beside a running munged.
        if Path("/run/munge/munge.socket.2").exists():
            raise SlurmUnavailable("a munged is already running on /run/munge/munge.socket.2")
        Path("/run/munge").mkdir(parents=True, exist_ok=True)
        try:
            self._spawn("munged", ["munged", "--foreground", "--force"])
            self._wait_for(lambda: Path("/run/munge/munge.socket.2").exists(), "munged's socket", timeout)
            self._spawn("slurmctld", ["slurmctld", "-D"])
            self._spawn("slurmd", ["slurmd", "-D"])
            self._wait_for(self._node_idle, "the node to come up idle", timeout)
        except BaseException:
            self.stop()
            raise

    def _spawn(self, name: str, command: list[str]) -> None:
        log = open(self.root / f"{name}.out", "w")  # noqa: SIM115 (closed with the process's end)
        self.processes[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def _node_idle(self) -> bool:
        found = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, check=False)
        return found.stdout.strip() == "idle"

    def _wait_for(self, ready, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            dead = [name for name, process in self.processes.items() if process.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise SlurmUnavailable(f"waiting for {what}: {self.diagnostics()}")
            time.sleep(0.5)

    def unschedulable_jobs(self) -> list[str]:
        """Pending jobs that this cluster can never start, as "id name: reason" (a request its configuration
        cannot satisfy): SLURM keeps them pending for ever, so a run waiting on them is stopped at once."""
        found = subprocess.run(["squeue", "-h", "-t", "PD", "-o", "%i %j|%r"], capture_output=True, text=True, check=False)
        jobs = []
        for line in found.stdout.splitlines():
            job, _, reason = line.partition("|")
            if reason.startswith(NEVER_SCHEDULABLE):
                jobs.append(f"{job}: {reason}")
        return jobs

    def diagnostics(self) -> str:
        """The tail of every daemon's log, for an error message."""
        parts = []
        for name in ("munged", "slurmctld", "slurmd"):
            for log in (self.root / f"{name}.out", self.root / f"{name}.log"):
                if log.exists():
                    parts.append(f"--- {log.name}\n{log.read_text()[-1500:]}")
        return "\n".join(parts) or "no daemon logs"

    def stop(self) -> None:
        """Cancel what is left of the jobs, then stop the daemons this cluster started (by their ids)."""
        if "slurmctld" in self.processes and self.processes["slurmctld"].poll() is None:
            subprocess.run(["scancel", "--full", "--user", "root"], capture_output=True, check=False)
        for name in ("slurmd", "slurmctld", "munged"):
            process = self.processes.pop(name, None)
            if process is None:
                continue
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=20)
        for name in ("slurm.conf", "gres.conf"):
            path = CONF_DIR / name
            if path.exists() and path.read_text().startswith(MARKER):
                path.unlink()
