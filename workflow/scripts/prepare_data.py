"""Raw data of one task and language -> checked, subsampled, tokenised once -> save_to_disk directory."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 (snakemake is injected)

from transformers import AutoTokenizer

from subnets.data import load_raw, prepare_dataset, source_label
from subnets.tasks import get_task
from subnets.theta0 import model_family

sm = snakemake  # noqa: F821
task_name, lang = sm.wildcards.task, sm.wildcards.lang
data = sm.params.data
task = get_task(task_name, model_family(sm.input.model), **sm.params.options)
tokenizer = AutoTokenizer.from_pretrained(sm.input.model)

raw = load_raw(
    task,
    data["source"],
    lang,
    validation_fraction=data["validation_fraction"],
    split_seed=data["seed"],
)
prepare_dataset(
    raw,
    task,
    tokenizer,
    sm.output[0],
    n_train=data["n_train"],
    n_eval=data["n_eval"],
    max_length=data["max_length"],
    seed=data["seed"],
    source=source_label(task, data["source"], lang),
)
print(f"prepared {task_name}/{lang} from {source_label(task, data['source'], lang)}", file=sys.stderr)
