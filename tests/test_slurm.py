"""The SLURM profile on a real (one-node) SLURM with fake GPUs: tests/slurm_cluster.py.

A slice of the micro study (one seed; the NER chain of t0 up to its 40% ticket, and that ticket trained on t1)
runs twice: locally with --cores 2, and through `--workflow-profile profiles/slurm`. Asserted:
- every training job (imp_round_*, train_subnetwork) ran as a SLURM job that had a GPU allocated (its metrics
  record the job id and CUDA_VISIBLE_DEVICES), and its sbatch call asked for --gpus=1;
- the results equal the local run's: the same peak metrics and curves, bit for bit the same masks;
- the local run's jobs did not run under SLURM.

And the time-limit signal of the profiles (`slurm_extra: --signal=TERM@<lead>` on the training rules): a one-rule
workflow run through the real profile (only the lead time shortened, to fit a 2-minute limit) trains too slowly to
finish in time; SLURM's early SIGTERM reaches the training process inside the plugin's job step, which writes its
resume state and exits 143; Snakemake's retry continues from that step ("resuming at step N") and finishes.

Runs where SLURM is installed or may be installed (CI=true, or SUBNETS_INSTALL_SLURM=1) and this is root;
skips otherwise, saying why. Takes a few minutes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import yaml
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
    """Run the slice (see :func:`_run_snakemake`)."""
    workdir.mkdir()
    config = write_config(workdir / "config.yaml", _one_seed)
    return _run_snakemake(workdir, snakemake_command(workdir, config, *args, *TARGETS), cluster)


def _run_snakemake(workdir: Path, command: list[str], cluster: SlurmCluster | None, timeout: float = 1200) -> str:
    """Run ``command`` in ``workdir``; its output. With a ``cluster``, stop as soon as one of its jobs can never
    be scheduled (rather than wait for Snakemake's own timeout) and fail with the reason."""
    log = workdir / "snakemake-output.log"
    with log.open("w") as out:
        run = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=SNAKEMAKE_ENV, cwd=workdir,
                               start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + timeout
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

    for sparsity in ("20", "40"):  # the tickets the rounds at 0% and 20% pruned
        path = f"results/micro/tickets/ner/t0/seed0/sparsity{sparsity}.safetensors"
        ours, theirs = (masks.load_mask(tmp_path / run / path)[0] for run in ("slurm", "local"))
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[name], theirs[name]) for name in ours), path

    calls = re.findall(r"sbatch call: (sbatch .*)", output)
    training_calls = [c for c in calls if re.search(r"rule_(imp_round_\d\d|train_subnetwork)", c)]
    assert len(training_calls) == len(on_slurm), calls
    assert all("--gpus=1" in call and "--signal=TERM@" in call for call in training_calls), training_calls


PROFILES = ("slurm", "slurm-gres")
# IMP: one rule per level, imp_round_<two-digit sparsity> (workflow/rules/prune.smk).
TRAINING_RULES = (*(f"imp_round_{level:02d}" for level in range(100)), "train_subnetwork", "method_mask")
SIGNAL = re.compile(r"--signal=(?P<prefix>[RB]:)?(?P<sig>TERM|SIGTERM|15)@(?P<lead>\d+)")


def _signal_leads(profile: str) -> dict[str, int]:
    """Each training rule's time-limit signal lead (seconds) in ``profile``; a failed assertion when missing,
    not SIGTERM, or for the batch shell alone ("B:", which does not pass it on to the job step that trains)."""
    resources = yaml.safe_load((REPO / "profiles" / profile / "config.yaml").read_text())["set-resources"]
    leads = {}
    for rule in TRAINING_RULES:
        found = SIGNAL.search(str(resources[rule].get("slurm_extra", "")))
        assert found, (profile, rule, resources[rule])
        assert found["prefix"] is None, (profile, rule, "B: signals only the batch shell, R: no job at all")
        leads[rule] = int(found["lead"])
    return leads


# One training rule named like the workflow's (the profile's set-resources apply to it): a small NER training with
# a resume state that, unless it resumes, is slowed down (a sleep per step changes no number) so that it cannot
# finish within its 2-minute limit.
ONE_ROUND_SNAKEFILE = """
rule imp_round_20:
    output: "round/metrics.json"
    params: model={model!r}, data={data!r}, state_dir="round/resume"
    threads: 1
    resources: runtime=2, mem_mb=1500
    script: "train.py"
"""
ONE_ROUND_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    import datasets, torch
    from transformers import AutoTokenizer
    from subnets import resume
    from subnets.io import write_json
    from subnets.tasks import get_task
    from subnets.theta0 import build_task_model
    from subnets.training import MaskedTrainer, TrainingConfig

    torch.set_num_threads(1)
    sm = snakemake  # noqa: F821
    if resume.load_state(sm.params.state_dir) is None:
        original = MaskedTrainer._train_step

        def slow_step(self, batch, step):
            loss = original(self, batch, step)
            time.sleep(0.5)
            return loss

        MaskedTrainer._train_step = slow_step
    task = get_task("ner")
    data = datasets.load_from_disk(sm.params.data)
    config = TrainingConfig(learning_rate=1e-3, batch_size=16, eval_batch_size=32, max_steps=300, eval_every=50)
    trainer = MaskedTrainer(
        build_task_model(sm.params.model, task, seed=0), task, AutoTokenizer.from_pretrained(sm.params.model),
        data["train"], data["validation"], config, description="round", progress=False,
        state_dir=sm.params.state_dir, save_every=100000,
    )
    print(f"training starts in job {os.environ.get('SLURM_JOB_ID')}", file=sys.stderr, flush=True)
    result = trainer.train()
    write_json(sm.output[0], {"resumed_from_step": result.resumed_from_step, "total_steps": result.total_steps,
                              "slurm_job_id": os.environ.get("SLURM_JOB_ID")})
    """
)
TEST_LEAD = 30  # seconds: SLURM may signal up to a minute early, and the job needs ~20 s to reach training


def test_the_profiles_ask_for_a_time_limit_signal_to_the_training_step():
    for profile in PROFILES:
        leads = _signal_leads(profile)
        assert all(lead >= 300 for lead in leads.values()), (profile, leads)  # minutes, for GBs of state


def test_a_training_job_at_its_time_limit_saves_its_state_and_the_retry_resumes(cluster, tmp_path, ner_data,
                                                                                tiny_bert_dir):  # fmt: skip
    _, _, data = ner_data
    workdir = tmp_path / "one-round"
    profile = tmp_path / "profile"
    workdir.mkdir()
    profile.mkdir()
    data.save_to_disk(str(tmp_path / "data"))
    snakefile = ONE_ROUND_SNAKEFILE.format(model=str(tiny_bert_dir), data=str(tmp_path / "data"))
    (workdir / "Snakefile").write_text(snakefile)
    (workdir / "train.py").write_text(ONE_ROUND_SCRIPT)
    # The real profile (retries, requeue, the GPU and the signal of imp_round), but for a lead that fits the limit.
    lead = _signal_leads("slurm")["imp_round_20"]
    text = (REPO / "profiles" / "slurm" / "config.yaml").read_text()
    (profile / "config.yaml").write_text(text.replace(f"TERM@{lead}'", f"TERM@{TEST_LEAD}'"))
    exe = shutil.which("snakemake")
    command = [exe] if exe else [sys.executable, "-m", "snakemake"]
    command += ["-s", str(workdir / "Snakefile"), "-d", str(workdir), "--workflow-profile", str(profile),
                *SLURM_OPTIONS[2:]]  # fmt: skip

    started = time.monotonic()
    output = _run_snakemake(workdir, command, cluster, timeout=420)
    print(f"one round on SLURM: {time.monotonic() - started:.0f} s; output in {workdir}")

    calls = re.findall(r"sbatch call: (sbatch .*)", output)
    assert len(calls) == 2 and all(f"--signal=TERM@{TEST_LEAD}" in call for call in calls), calls
    logs = "\n".join(path.read_text() for path in sorted((workdir / ".snakemake" / "slurm_logs").rglob("*.log")))
    saved = re.search(r"round: signal 15 at step (\d+); state saved", logs)
    assert saved, f"no resume state written on SLURM's signal:\n{logs[-6000:]}"
    step = int(saved[1])
    assert 0 < step < 300
    assert f"round: resuming at step {step} from" in logs, logs[-6000:]
    metrics = json.loads((workdir / "round" / "metrics.json").read_text())
    assert metrics["resumed_from_step"] == step and metrics["total_steps"] == 300, metrics
    assert not (workdir / "round" / "resume").exists()
    assert not list((workdir / "round").glob(".*.tmp"))
    print(f"SLURM's signal stopped the first job at step {step}; its retry resumed there and finished")
