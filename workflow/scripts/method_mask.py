"""A mask of another method than IMP (lt_sft, fish, oneshot, early_bird, wanda) of one task, language and seed, at
one sparsity, in IMP's mask format, with what finding it cost in its provenance."""

from subnets.job import start

job = start(snakemake, gpus=True)  # noqa: F821 (snakemake is injected; lt_sft, oneshot train data-parallel on >1 GPU)
job.set_threads()

from subnets import masks
from subnets.methods import method_mask

sm = job.smk
mask, provenance = method_mask(
    sm.wildcards.method, job.model_dir, job.task, job.tokenizer, job.data, job.training, language=job.language,
    sparsity=int(sm.wildcards.sparsity), options=sm.params.method, processes=job.processes,
)  # fmt: skip
masks.save_mask(sm.output[0], mask, provenance)
job.log(f"{provenance.method} mask {job.task_name}/{job.language} seed {job.seed}: {masks.sparsity(mask):.4f}")
