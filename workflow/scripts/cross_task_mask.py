"""A language's ticket of one task carried over to another task's theta0 (appendix C): shared matrices keep
the ticket's decisions, parameters only the target model has (its pooler) stay dense."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 (snakemake is injected)

from subnets import masks
from subnets.tasks import get_task
from subnets.theta0 import build_task_model, fingerprint

sm = snakemake  # noqa: F821
task_name, seed, sparsity = sm.wildcards.task, int(sm.wildcards.seed), int(sm.wildcards.sparsity)
ticket, metadata = masks.load_mask(sm.input.ticket)
masks.check_sparsity(ticket, metadata, sparsity, sm.input.ticket)
model = build_task_model(sm.input.model, get_task(task_name, **sm.params.options), seed=seed)
mask, added_dense = masks.carry_over(ticket, masks.prunable_shapes(model, masks.infer_family(model)))
masks.save_mask(
    sm.output[0],
    mask,
    {
        "theta0_fingerprint": fingerprint(model),
        "task": task_name,
        "language": metadata["language"],
        "seed": seed,
        "method": "cross_task",
        "sparsity_percent": sparsity,
        "ticket_task": metadata["task"],
        "added_dense": added_dense,
        "parent": str(sm.input.ticket),
    },
)
print(f"{sm.input.ticket} -> {task_name}; kept dense: {added_dense}", file=sys.stderr)
