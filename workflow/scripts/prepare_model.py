"""Snapshot a pre-trained model (hub id or local directory) with its tokenizer as safetensors."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 (snakemake is injected)

from subnets.theta0 import snapshot_pretrained

path = snapshot_pretrained(snakemake.params.source, snakemake.output[0], snakemake.params.family)  # noqa: F821
print(f"snapshot of {snakemake.params.source} in {path}", file=sys.stderr)  # noqa: F821
