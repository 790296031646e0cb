"""A task's multilingual mixture (Table 1): an equal share of each language's prepared data, same total size."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

from subnets.data import mix_prepared

sm = job.smk
data = sm.params.data
parts = dict(sm.input.items())
mix_prepared(parts, sm.output[0], n_train=data["n_train"], n_eval=data["n_eval"], seed=data["seed"])
job.log(f"mixed {list(parts)} into {sm.output[0]}")
