"""What every workflow script does first, in one place.

``job = start(snakemake)`` first hands the job to the warm-start server (:mod:`subnets.warm`: the script then
runs in a process forked from one that has torch and transformers imported, and this process only waits for it
and exits with its status); where warm start is off or fails, the job runs here, cold. Then it sends stderr to
the job's log (which says which of the two it was), removes temporaries that a killed earlier attempt left
beside the job's outputs, and (``gpus=True``, before CUDA is initialised: CUDA reads CUDA_VISIBLE_DEVICES once)
claims the job's GPUs. Training scripts then take the task adapter, tokenizer, prepared data and training
config from ``job``; each is built on first use, so a script pays only for what it reads. No Snakemake import:
``snakemake`` is the object Snakemake injects into scripts.
"""

from __future__ import annotations

import sys
import time
from functools import cached_property
from pathlib import Path
from typing import Any


class Job:
    def __init__(self, smk, gpus: bool = False, note: str = ""):
        from subnets.io import clean_stale_temporaries

        self.smk = smk
        self.started = time.time()
        sys.stderr = open(smk.log[0], "w", buffering=1)  # noqa: SIM115 (the log stays open for the job's life)
        if note:
            self.log(note)
        clean_stale_temporaries([str(path) for path in smk.output])
        self.processes = 1
        if gpus:
            from subnets.devices import claim_gpus, training_processes

            # One process per claimed GPU: more than one trains data-parallel (subnets.parallel).
            self.processes = training_processes(claim_gpus(smk.resources.get("gpu", 0)))
        self.wildcards = smk.wildcards

    # The wildcards every training job has, typed.
    @property
    def task_name(self) -> str:
        return self.wildcards.task

    @property
    def language(self) -> str:
        return self.wildcards.lang

    @property
    def seed(self) -> int:
        return int(self.wildcards.seed)

    @property
    def model_dir(self) -> str:
        return str(self.smk.input.model)

    def set_threads(self) -> None:
        import torch

        torch.set_num_threads(self.smk.threads)

    @cached_property
    def task(self):
        from subnets.tasks import get_task
        from subnets.theta0 import model_family

        return get_task(self.task_name, model_family(self.model_dir), **self.smk.params.options)

    @cached_property
    def tokenizer(self):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self.model_dir)

    @cached_property
    def data(self):
        from subnets.data import load_prepared

        return load_prepared(self.smk.input.data)

    @cached_property
    def training(self):
        """The task's TrainingConfig with this job's seed."""
        from subnets.training import TrainingConfig

        return TrainingConfig.from_dict({**self.smk.params.training, "seed": self.seed})

    def resume_options(self) -> dict[str, Any]:
        """Where a training job keeps its resume state: beside its first output but not one of them, so Snakemake
        neither deletes it before a rerun nor asks for it; ``save_every`` is read from the config, not a param,
        because it changes no result and so must rerun nothing."""
        return {
            "state_dir": str(Path(self.smk.output[0]).parent / "resume"),
            "save_every": self.smk.config["resources"]["save_every"],
            "processes": self.processes,
        }

    def run_record(self, resumed_from_step: int) -> dict[str, Any]:
        """How long the job took, where it ran (host, SLURM job, devices, processes, resume), and exactly what it
        read: theta0's snapshot (source and resolved revision) and the prepared data (what was read, at which
        revision), so that a study can be repeated exactly."""
        from subnets.data import prepared_info
        from subnets.devices import runtime_info
        from subnets.theta0 import SNAPSHOT_INFO, snapshot_info

        has_snapshot = (Path(self.model_dir) / SNAPSHOT_INFO).is_file()  # the toy model is built, not snapshotted
        return {
            "seconds": round(time.time() - self.started, 2),
            "runtime": {**runtime_info(), "processes": self.processes, "resumed_from_step": resumed_from_step},
            "theta0_source": snapshot_info(self.model_dir) if has_snapshot else {"kind": "toy"},
            "data": prepared_info(self.smk.input.data),
        }

    def log(self, message: str) -> None:
        print(message, file=sys.stderr)


def start(smk, gpus: bool = False) -> Job:
    """The preamble of a workflow script; see :class:`Job`. Call it at the top of the script."""
    import os

    from subnets import warm

    if warm.IN_CHILD:
        note = f"warm start: process {os.getpid()}, forked from the warm-start server {os.getppid()}"
    else:  # returns only when the job is to run in this process
        note = f"warm start not used ({warm.run_job(smk, sys._getframe(1).f_globals)}): the job runs cold"
    return Job(smk, gpus=gpus, note=note)
