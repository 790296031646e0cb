"""Snapshot a pre-trained model (hub id or local directory) with its tokenizer as safetensors."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

from subnets.theta0 import snapshot_pretrained

sm = job.smk
path = snapshot_pretrained(sm.params.source, sm.output[0], sm.params.family, revision=sm.params.revision)
job.log(f"snapshot of {sm.params.source} in {path}")
