"""A uniformly random mask over the prunable weights of a task's theta0, at one sparsity, seeded."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 (snakemake is injected)

from subnets import masks
from subnets.tasks import get_task
from subnets.theta0 import build_task_model, fingerprint, model_family

sm = snakemake  # noqa: F821
task_name, seed, sparsity = sm.wildcards.task, int(sm.wildcards.seed), int(sm.wildcards.sparsity)
task = get_task(task_name, model_family(sm.input.model), **sm.params.options)
model = build_task_model(sm.input.model, task, seed=seed)
shapes = masks.prunable_shapes(model, masks.infer_family(model))
mask = masks.random_mask(shapes, sparsity / 100, seed)
masks.save_mask(
    sm.output[0],
    mask,
    {
        "theta0_fingerprint": fingerprint(model),
        "task": task_name,
        "language": None,
        "seed": seed,
        "method": "random",
        "sparsity_percent": sparsity,
    },
)
print(f"random mask {task_name} seed {seed} at {sparsity}%: {masks.sparsity(mask):.4f}", file=sys.stderr)
