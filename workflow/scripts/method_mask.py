"""An LT-SFT or FISH mask (appendix D) of one task, language and seed, at one sparsity, in IMP's mask format."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 (snakemake is injected)

from subnets.devices import claim_gpus, training_processes

claim = claim_gpus(snakemake.resources.get("gpu", 0))  # noqa: F821  (before torch initialises CUDA)
processes = training_processes(claim)  # LT-SFT's dense fine-tuning: data-parallel on several GPUs

import torch
from transformers import AutoTokenizer

from subnets import masks, methods
from subnets.data import load_prepared
from subnets.imp import train_subnetwork
from subnets.tasks import get_task
from subnets.theta0 import build_task_model, fingerprint, model_family
from subnets.training import TrainingConfig

sm = snakemake  # noqa: F821
torch.set_num_threads(sm.threads)
method, task_name, lang = sm.wildcards.method, sm.wildcards.task, sm.wildcards.lang
seed, sparsity = int(sm.wildcards.seed), int(sm.wildcards.sparsity)
task = get_task(task_name, model_family(sm.input.model), **sm.params.options)
tokenizer = AutoTokenizer.from_pretrained(sm.input.model)
data = load_prepared(sm.input.data)
theta0 = build_task_model(sm.input.model, task, seed=seed)
family = masks.infer_family(theta0)
names = list(masks.prunable_parameters(theta0, family))
details = {}
if method == "lt_sft":
    # Fine-tune densely with the task's training settings; the weights that moved most form the mask.
    config = TrainingConfig.from_dict({**sm.params.training, "seed": seed})
    _, result, _ = train_subnetwork(
        sm.input.model, task, tokenizer, data, config, None, progress=False, processes=processes
    )
    initial = {name: p.detach().clone() for name, p in theta0.named_parameters() if name in names}
    finetuned = {name: result.final_state[name] for name in names}
    mask = methods.lt_sft_mask(initial, finetuned, sparsity / 100)
    details = {"dense_peak_metric": result.peak_metric, "dense_final_metric": result.final_metric}
elif method == "fish":
    scores = methods.fisher_scores(
        theta0, task, tokenizer, data["train"], names, n_examples=sm.params.fish_examples, seed=seed
    )
    mask = methods.fish_mask(scores, sparsity / 100)
    details = {"fish_examples": min(sm.params.fish_examples, len(data["train"]))}
else:
    raise ValueError(f"unknown mask method {method!r}; known: {methods.METHODS}")
masks.save_mask(
    sm.output[0],
    mask,
    {
        "theta0_fingerprint": fingerprint(theta0),
        "task": task_name,
        "language": lang,
        "seed": seed,
        "method": method,
        "sparsity_percent": sparsity,
        **details,
    },
)
print(f"{method} mask {task_name}/{lang} seed {seed}: sparsity {masks.sparsity(mask):.4f} {details}", file=sys.stderr)
