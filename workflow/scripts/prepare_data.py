"""Raw data of one task and language -> checked, subsampled, tokenised once -> save_to_disk directory."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

from subnets.data import load_raw, prepare_dataset, source_label

sm = job.smk
data, lang = sm.params.data, job.language
raw = load_raw(
    job.task, data["source"], lang, validation_fraction=data["validation_fraction"], split_seed=data["seed"],
    revision=data["revision"], max_documents=data["documents"],
)  # fmt: skip
label = source_label(job.task, data["source"], lang)
prepare_dataset(
    raw, job.task, job.tokenizer, sm.output[0], n_train=data["n_train"], n_eval=data["n_eval"],
    max_length=data["max_length"], seed=data["seed"], source=label, exact_sizes=data["exact_sizes"],
)  # fmt: skip
job.log(f"prepared {job.task_name}/{lang} from {label}")
