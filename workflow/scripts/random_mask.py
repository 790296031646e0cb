"""A uniformly random mask over the prunable weights of a task's theta0, at one sparsity, seeded."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

from subnets import masks
from subnets.methods import random_subnetwork

sm = job.smk
mask, provenance = random_subnetwork(
    job.model_dir, job.task, seed=job.seed, theta0_seed=job.training.theta0_seed, sparsity=int(sm.wildcards.sparsity)
)
masks.save_mask(sm.output[0], mask, provenance)
job.log(f"random mask {job.task_name} seed {job.seed} at {provenance.sparsity_percent}%: {masks.sparsity(mask):.4f}")
