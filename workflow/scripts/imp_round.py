"""One IMP round: train theta0 * mask_s to its peak, write metrics.json and the mask at s + p."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 (snakemake is injected)

import json
import time

import torch
from transformers import AutoTokenizer

from subnets import masks
from subnets.data import load_prepared, prepared_info
from subnets.imp import run_imp_round
from subnets.io import write_json
from subnets.tasks import get_task
from subnets.training import TrainingConfig

sm = snakemake  # noqa: F821
torch.set_num_threads(sm.threads)
task_name, lang = sm.wildcards.task, sm.wildcards.lang
seed, sparsity = int(sm.wildcards.seed), int(sm.wildcards.sparsity)
started = time.time()

task = get_task(task_name, **sm.params.options)
tokenizer = AutoTokenizer.from_pretrained(sm.input.model)
data = load_prepared(sm.input.data)
config = TrainingConfig.from_dict({**sm.params.training, "seed": seed})

mask, mask_metadata = None, {}
if hasattr(sm.input, "mask"):
    mask, mask_metadata = masks.load_mask(sm.input.mask)
    found = round(100 * masks.sparsity(mask))
    if found != sparsity:
        raise ValueError(f"{sm.input.mask}: mask sparsity is {found}%, but this round is at {sparsity}%")
    for key, expected in (("task", task_name), ("language", lang), ("seed", seed)):
        if mask_metadata.get(key) != expected:
            raise ValueError(f"{sm.input.mask}: metadata {key}={mask_metadata.get(key)!r}, expected {expected!r}")

# p% of the ORIGINAL count, or what is left when rounding has already taken more (the last rounds of p = 10).
prune_fraction = sm.params.prune_percent / 100
if mask is not None:
    prune_fraction = min(prune_fraction, masks.kept_count(mask) / sum(m.numel() for m in mask.values()))

result = run_imp_round(
    sm.input.model,
    task,
    tokenizer,
    data,
    config,
    mask,
    prune_fraction=prune_fraction,
    prune_from=sm.params.prune_from,
    mask_metadata=mask_metadata or None,
    mask_path=str(sm.input.mask) if mask is not None else None,
    progress=False,
)
metrics = result.metrics

next_sparsity = sparsity + sm.params.prune_percent
masks.save_mask(
    sm.output.next_mask,
    result.next_mask,
    {
        "theta0_fingerprint": metrics["theta0_fingerprint"],
        "task": task_name,
        "language": lang,
        "seed": seed,
        "method": "imp",
        "sparsity_percent": next_sparsity,
        "prune_from": sm.params.prune_from,
        "parent": str(sm.input.mask) if mask is not None else None,
    },
)
metrics.update(
    task=task_name,
    language=lang,
    seed=seed,
    sparsity=sparsity,
    mask_sparsity=metrics.pop("sparsity"),
    next_sparsity_percent=next_sparsity,
    data=prepared_info(sm.input.data),
    seconds=round(time.time() - started, 2),
)
write_json(sm.output.metrics, metrics)
print(json.dumps({k: metrics[k] for k in ("task", "language", "seed", "sparsity", "peak_metric", "seconds")}),
      file=sys.stderr)
