"""Train theta0 * mask on one (task, target language, seed): cross-lingual transfer of a ticket, or a random
sub-network. The mask is checked against theta0 (names, shapes, fingerprint) before training."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 (snakemake is injected)

import time

import torch
from transformers import AutoTokenizer

from subnets import masks
from subnets.data import load_prepared
from subnets.imp import train_subnetwork
from subnets.io import write_json
from subnets.tasks import get_task
from subnets.training import TrainingConfig

sm = snakemake  # noqa: F821
torch.set_num_threads(sm.threads)
task_name, lang, source = sm.wildcards.task, sm.wildcards.lang, sm.wildcards.source
seed, sparsity = int(sm.wildcards.seed), int(sm.wildcards.sparsity)
started = time.time()

task = get_task(task_name, **sm.params.options)
mask, metadata = masks.load_mask(sm.input.mask)
found = round(100 * masks.sparsity(mask))
if found != sparsity:
    raise ValueError(f"{sm.input.mask}: mask sparsity is {found}%, but the job asks for {sparsity}%")
_, result, info = train_subnetwork(
    sm.input.model,
    task,
    AutoTokenizer.from_pretrained(sm.input.model),
    load_prepared(sm.input.data),
    TrainingConfig.from_dict({**sm.params.training, "seed": seed}),
    mask,
    mask_metadata=metadata,
    mask_path=str(sm.input.mask),
    description=f"{task_name} {source}->{lang}",
    progress=False,
)
metrics = {
    **info,
    **result.summary(),
    "task": task_name,
    "language": lang,
    "source": source,
    "seed": seed,
    "sparsity": sparsity,
    "mask_sparsity": info["sparsity"],
    "mask": {k: metadata.get(k) for k in ("method", "task", "language", "seed", "sparsity_percent")},
    "training": sm.params.training,
    "seconds": round(time.time() - started, 2),
}
write_json(sm.output[0], metrics)
print(f"{task_name} {source}->{lang} seed {seed} at {sparsity}%: {result.peak_metric:.4f}", file=sys.stderr)
