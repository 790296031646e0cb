"""Train theta0 * mask on one (task, target language, seed): a ticket of another language, a random sub-network,
a language's own ticket pruned on at random (footnote 9), another task's ticket carried over (appendix C), or a
multilingual ticket. The mask is checked (sparsity; names, shapes and theta0 fingerprint) before training."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 (snakemake is injected)

from subnets.devices import claim_gpus, runtime_info, training_processes

# Before torch is imported: CUDA reads CUDA_VISIBLE_DEVICES once, when it initialises.
claim = claim_gpus(snakemake.resources.get("gpu", 0))  # noqa: F821
# One process per GPU: more than one trains data-parallel (subnets.parallel).
processes = training_processes(claim)

import time
from pathlib import Path

import torch
from transformers import AutoTokenizer

from subnets import masks
from subnets.data import load_prepared
from subnets.imp import reprune, train_subnetwork
from subnets.io import write_json
from subnets.tasks import get_task
from subnets.theta0 import model_family
from subnets.training import TrainingConfig

sm = snakemake  # noqa: F821
torch.set_num_threads(sm.threads)
task_name, lang, source = sm.wildcards.task, sm.wildcards.lang, sm.wildcards.source
seed, sparsity = int(sm.wildcards.seed), int(sm.wildcards.sparsity)
started = time.time()

task = get_task(task_name, model_family(sm.input.model), **sm.params.options)
mask, metadata = masks.load_mask(sm.input.mask)
derive = sm.params.derive  # how this run's mask comes from the input mask
if derive["method"] == "repruned":
    mask, metadata = reprune(
        mask, metadata, start_percent=derive["start"], sparsity_percent=sparsity, seed=seed, path=sm.input.mask
    )
masks.check_sparsity(mask, metadata, sparsity, sm.input.mask)
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
    # Beside the output but not one of them: Snakemake neither deletes it before a rerun nor asks for it.
    state_dir=str(Path(sm.output[0]).parent / "resume"),
    # Read from the config, not a param: it changes no result, so changing it must rerun nothing.
    save_every=sm.config["resources"]["save_every"],
    carry_over=derive["method"] == "cross_task",
    processes=processes,
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
    "training": sm.params.training,
    "seconds": round(time.time() - started, 2),
    "runtime": {**runtime_info(), "processes": processes, "resumed_from_step": result.resumed_from_step},
}
write_json(sm.output[0], metrics)
print(f"{task_name} {source}->{lang} seed {seed} at {sparsity}%: {result.peak_metric:.4f}", file=sys.stderr)
