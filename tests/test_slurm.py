"""The SLURM profile on a real (one-node) SLURM with fake GPUs: tests/slurm_cluster.py.

A slice of the micro study (one seed; the NER chain of t0 up to its 40% ticket, and that ticket trained on t1)
runs twice: locally with --cores 2, and through `--workflow-profile profiles/slurm`. Asserted:
- every training job (imp_round, train_subnetwork) ran as a SLURM job that had a GPU allocated (its metrics
  record the job id and CUDA_VISIBLE_DEVICES), and its sbatch call asked for --gpus=1;
- the results equal the local run's: the same peak metrics and curves, bit for bit the same masks;
- the local run's jobs did not run under SLURM.

Runs where SLURM is installed or may be installed (CI=true, or SUBNETS_INSTALL_SLURM=1) and this is root;
skips otherwise, saying why. Takes a few minutes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from slurm_cluster import SlurmCluster, SlurmUnavailable, ensure_installed
from test_workflow import REPO, SNAKEMAKE_ENV, snakemake_command, write_config

from subnets import masks

pytestmark = pytest.mark.slurm

CHAIN = "results/micro/imp/ner/t0/seed0"
TRANSFER = "results/micro/train/ner/t1/seed0/t0-sparsity40/metrics.json"
ROUNDS = ("00", "20")
TARGETS = (TRANSFER,)  # needs the t0 rounds at 0% and 20% (whose second next_mask is the 40% ticket)
SLURM_OPTIONS = (
    "--workflow-profile", str(REPO / "profiles" / "slurm"),
    # The test cluster keeps no accounting: no account to pass, no sacct to ask.
    "--slurm-no-account", "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "2",
    "--slurm-keep-successful-logs", "--verbose",
)  # fmt: skip


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    try:
        ensure_installed()
        with SlurmCluster(tmp_path_factory.mktemp("slurm")) as running:
            yield running
    except SlurmUnavailable as why:
        pytest.skip(f"no SLURM cluster: {why}")


def _one_seed(config: dict) -> None:
    config["seeds"] = [0]


def _training_metrics(workdir: Path) -> dict[str, dict]:
    paths = [f"{CHAIN}/sparsity{s}/metrics.json" for s in ROUNDS] + [TRANSFER]
    return {path: json.loads((workdir / path).read_text()) for path in paths}


def _run(workdir: Path, *args: str, cluster: SlurmCluster | None = None) -> str:
    """Run the slice; with a ``cluster``, stop as soon as one of its jobs can never be scheduled (rather than
    wait for Snakemake's own timeout) and fail with the reason."""
    workdir.mkdir()
    config = write_config(workdir / "config.yaml", _one_seed)
    log = workdir / "snakemake-output.log"
    command = snakemake_command(workdir, config, *args, *TARGETS)
    with log.open("w") as out:
        run = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=SNAKEMAKE_ENV, cwd=workdir,
                               start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 1200
        while run.poll() is None:
            stuck = cluster.unschedulable_jobs() if cluster is not None else []
            if stuck or time.monotonic() > deadline:
                os.killpg(run.pid, signal.SIGTERM)
                run.wait()
                pytest.fail(f"SLURM can never start {stuck}\n{cluster.diagnostics()}" if stuck else "timed out")
            time.sleep(3)
    output = log.read_text()
    assert run.returncode == 0, output[-6000:]
    return output


def test_training_jobs_run_as_slurm_gpu_jobs_with_the_local_results(cluster, tmp_path):
    _run(tmp_path / "local", "--cores", "2")
    started = time.monotonic()
    output = _run(tmp_path / "slurm", *SLURM_OPTIONS, cluster=cluster)
    print(f"SLURM run: {time.monotonic() - started:.0f} s; snakemake output in {tmp_path / 'slurm'}")

    local, on_slurm = _training_metrics(tmp_path / "local"), _training_metrics(tmp_path / "slurm")
    for path, metrics in on_slurm.items():
        assert metrics["runtime"]["slurm_job_id"], path
        assert metrics["runtime"]["cuda_visible_devices"] == "0", path  # one of the two fake GPUs
        assert local[path]["runtime"]["slurm_job_id"] is None, path
        for key in ("eval_curve", "peak_metric", "peak_step", "theta0_fingerprint", "kept_count"):
            assert metrics[key] == local[path][key], (path, key)
    assert len({m["runtime"]["slurm_job_id"] for m in on_slurm.values()}) == len(on_slurm)

    for sparsity in ROUNDS:
        path = f"{CHAIN}/sparsity{sparsity}/next_mask.safetensors"
        ours, theirs = (masks.load_mask(tmp_path / run / path)[0] for run in ("slurm", "local"))
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[name], theirs[name]) for name in ours), path

    calls = re.findall(r"sbatch call: (sbatch .*)", output)
    training_calls = [c for c in calls if re.search(r"rule_(imp_round|train_subnetwork)", c)]
    assert len(training_calls) == len(on_slurm), calls
    assert all("--gpus=1" in call for call in training_calls), training_calls
