"""Train theta0 * mask on one (task, target language, seed): a ticket of another language or a mixture, a random
sub-network, another method's mask, a language's own ticket pruned on at random (footnote 9) or another task's
ticket carried over (appendix C). The mask is checked (sparsity; names, shapes, theta0) before training."""

from subnets.job import start

job = start(snakemake, gpus=True)  # noqa: F821 (snakemake is injected)
job.set_threads()

from subnets.imp import train_source
from subnets.io import write_json
from subnets.study.names import parse_source

sm = job.smk
source, sparsity = parse_source(sm.wildcards.source), int(sm.wildcards.sparsity)
metrics = train_source(
    job.model_dir, job.task, job.tokenizer, job.data, job.training, language=job.language,
    mask_path=sm.input.mask, source=source, sparsity=sparsity, progress=False, **job.resume_options(),
)  # fmt: skip
metrics.update(training=dict(sm.params.training), **job.run_record(metrics.pop("resumed_from_step")))
write_json(sm.output[0], metrics)
job.log(f"{job.task_name} {source}->{job.language} seed {job.seed} at {sparsity}%: {metrics['peak_metric']:.4f}")
