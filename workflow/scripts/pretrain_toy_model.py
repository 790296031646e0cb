"""Pre-train the toy world's tiny BERT (the demo's theta0 body) and save it like mBERT."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 (snakemake is injected)

import json

import torch

from subnets.toy.pretrain import ToyModelConfig, pretrain_toy_bert

sm = snakemake  # noqa: F821
torch.set_num_threads(sm.threads)
config = ToyModelConfig.from_dict(dict(sm.params.model))
metrics = pretrain_toy_bert(sm.input.world, sm.input.tokenizer, sm.output[0], config, progress=False)
summary = {k: metrics[k] for k in ("perplexity", "unigram_perplexity", "parameters", "train_blocks")}
print(json.dumps(summary), file=sys.stderr)
