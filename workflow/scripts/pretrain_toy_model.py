"""Pre-train the toy world's tiny model of model.family (the demo's theta0 body): a BERT saved like mBERT, an
XLM-R saved like xlm-roberta-base, a Llama saved like a hub decoder, or an mT5 saved like google/mt5-base."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

import json

import torch

from subnets.toy.pretrain import toy_model_config_class, toy_pretraining

sm = job.smk
torch.set_num_threads(sm.threads)
family = sm.params.family
config = toy_model_config_class(family).from_dict(dict(sm.params.model))
metrics = toy_pretraining(family)(sm.input.world, sm.input.tokenizer, sm.output[0], config, progress=False)
summary = {k: metrics[k] for k in ("perplexity", "unigram_perplexity", "parameters", "train_blocks")}
job.log(json.dumps(summary))
