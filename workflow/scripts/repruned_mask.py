"""Footnote 9's baseline mask: a language's ticket at a lower sparsity, pruned on at random to the asked one."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 (snakemake is injected)

from subnets import masks

sm = snakemake  # noqa: F821
seed, start, sparsity = int(sm.wildcards.seed), int(sm.wildcards.start), int(sm.wildcards.sparsity)
ticket, metadata = masks.load_mask(sm.input.ticket)
masks.check_sparsity(ticket, metadata, start, sm.input.ticket)
mask = masks.random_prune(ticket, sparsity / 100, seed)
masks.save_mask(
    sm.output[0],
    mask,
    {
        "theta0_fingerprint": metadata["theta0_fingerprint"],
        "task": metadata["task"],
        "language": metadata["language"],
        "seed": seed,
        "method": "repruned",
        "sparsity_percent": sparsity,
        "parent": str(sm.input.ticket),
        "parent_sparsity_percent": start,
    },
)
print(f"{sm.input.ticket} ({start}%) -> random prune to {masks.sparsity(mask):.4f}", file=sys.stderr)
