"""One IMP round: train theta0 * mask_s to its peak, write metrics.json and the mask at s + p."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 (snakemake is injected)

from subnets.devices import claim_gpus, runtime_info, training_processes

# Before torch is imported: CUDA reads CUDA_VISIBLE_DEVICES once, when it initialises.
claim = claim_gpus(snakemake.resources.get("gpu", 0))  # noqa: F821
# One process per GPU: more than one trains data-parallel (subnets.parallel).
processes = training_processes(claim)

import json
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer

from subnets import masks
from subnets.data import load_prepared, prepared_info
from subnets.imp import check_chain_mask, round_prune_fraction, run_imp_round
from subnets.io import write_json
from subnets.tasks import get_task
from subnets.theta0 import model_family
from subnets.training import TrainingConfig

sm = snakemake  # noqa: F821
torch.set_num_threads(sm.threads)
task_name, lang = sm.wildcards.task, sm.wildcards.lang
seed, sparsity = int(sm.wildcards.seed), int(sm.wildcards.sparsity)
started = time.time()

task = get_task(task_name, model_family(sm.input.model), **sm.params.options)
tokenizer = AutoTokenizer.from_pretrained(sm.input.model)
data = load_prepared(sm.input.data)
config = TrainingConfig.from_dict({**sm.params.training, "seed": seed})

mask, mask_metadata = None, {}
if hasattr(sm.input, "mask"):
    mask, mask_metadata = masks.load_mask(sm.input.mask)
    check_chain_mask(
        mask, mask_metadata, task=task_name, language=lang, seed=seed, sparsity_percent=sparsity, path=sm.input.mask
    )
prune_fraction = round_prune_fraction(mask, sm.params.prune_percent)

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
    # Beside the outputs but not one of them: Snakemake neither deletes it before a rerun nor asks for it.
    state_dir=str(Path(sm.output.metrics).parent / "resume"),
    # Read from the config, not a param: it changes no result, so changing it must rerun nothing.
    save_every=sm.config["resources"]["save_every"],
    processes=processes,
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
    runtime={**runtime_info(), "processes": processes, "resumed_from_step": result.resumed_from_step},
)
write_json(sm.output.metrics, metrics)
print(json.dumps({k: metrics[k] for k in ("task", "language", "seed", "sparsity", "peak_metric", "seconds")}),
      file=sys.stderr)
