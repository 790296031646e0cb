"""A task's multilingual mixture (Table 1): an equal share of each language's prepared data, same total size."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 (snakemake is injected)

from subnets.data import mix_prepared

sm = snakemake  # noqa: F821
data = sm.params.data
parts = dict(sm.input.items())
mix_prepared(parts, sm.output[0], n_train=data["n_train"], n_eval=data["n_eval"], seed=data["seed"])
print(f"mixed {list(parts)} into {sm.output[0]}", file=sys.stderr)
