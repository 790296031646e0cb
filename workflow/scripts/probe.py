"""One zero-shot probe of theta0 * mask (or the dense theta0): retrieval (Fig. 7) or SVCCA / PWCCA (Fig. 10),
one row per layer (and language or direction)."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)
job.set_threads()

from subnets.io import atomic_path
from subnets.probes import load_masked_body, run_probe

sm = job.smk
model, tokenizer = load_masked_body(sm.input.model, sm.input.get("mask"))
table = run_probe(sm.wildcards.kind, model, tokenizer, sm.params.spec)
table.insert(0, "subnetwork", sm.wildcards.subnetwork)
with atomic_path(sm.output[0]) as tmp:
    table.to_csv(tmp, index=False)
job.log(f"{sm.wildcards.kind} {sm.wildcards.subnetwork}: {len(table)} rows")
