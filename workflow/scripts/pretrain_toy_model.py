"""Pre-train the toy world's tiny model (the demo's theta0 body): a BERT saved like mBERT, or for model.family
t5 an mT5 saved like google/mt5-base."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

import json

import torch

from subnets.toy.pretrain import ToyModelConfig, pretrain_toy_bert
from subnets.toy.pretrain_t5 import ToyT5Config, pretrain_toy_t5

sm = job.smk
torch.set_num_threads(sm.threads)
if sm.params.family == "t5":
    config, pretrain = ToyT5Config.from_dict(dict(sm.params.model)), pretrain_toy_t5
else:
    config, pretrain = ToyModelConfig.from_dict(dict(sm.params.model)), pretrain_toy_bert
metrics = pretrain(sm.input.world, sm.input.tokenizer, sm.output[0], config, progress=False)
summary = {k: metrics[k] for k in ("perplexity", "unigram_perplexity", "parameters", "train_blocks")}
job.log(json.dumps(summary))
