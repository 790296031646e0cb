"""One IMP round: train theta0 * ticket_s to its peak, write the round's metrics.json and the ticket at s + p."""

from subnets.job import start

job = start(snakemake, gpus=True)  # noqa: F821 (snakemake is injected)
job.set_threads()

from subnets import masks
from subnets.imp import imp_round
from subnets.io import write_json

sm = job.smk
metrics, ticket, provenance = imp_round(
    job.model_dir, job.task, job.tokenizer, job.data, job.training,
    language=job.language, sparsity=sm.params.sparsity,
    prune_percent=sm.params.prune_percent, prune_from=sm.params.prune_from,
    ticket_path=sm.input.get("ticket"), progress=False, **job.resume_options(),
)  # fmt: skip
masks.save_mask(sm.output.ticket, ticket, provenance)
metrics.update(job.run_record(metrics.pop("resumed_from_step")))
write_json(sm.output.metrics, metrics)
job.log(f"{job.task_name}/{job.language} seed {job.seed} at {metrics['sparsity']}%: {metrics['peak_metric']:.4f}")
