"""Each mask method against IMP's ticket for one task: metric, dense band, Jaccard (all layers, per layer), cost
from theta0, and whether the method reaches IMP's conclusions (overlap and transfer rank correlations, orders)."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

from subnets.ticket_methods import write

sm = job.smk
rows = write(
    {key: list(sm.input[key]) for key in ("masks", "tickets", "dense", "imp", "own", "transfer")},
    sm.output, task=sm.wildcards.task, methods=sm.params.methods, languages=sm.params.languages,
    sparsity=sm.params.sparsity,
)  # fmt: skip
job.log(f"{sm.wildcards.task}: {len(rows)} rows")
