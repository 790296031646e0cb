"""Task adapters: one object per task of the study (MLM, WikiAnn NER, XNLI) behind one interface.

Which adapter a task name gets depends on the model family: encoders (BERT, XLM-R) classify with a task head;
encoder-decoders (T5 / mT5) answer in text, and the paper's mT5 study has XNLI only; decoder-only models
(Llama, Qwen2, Mistral, Gemma, BLOOM) do causal LM as the ``mlm`` task and classify with a task head
(:mod:`subnets.tasks.decoder`).

Metrics are reported on the paper's scales: F1 and accuracy in PERCENT (0-100), perplexity as is.
"""

from __future__ import annotations

from subnets.tasks.base import MetricAccumulator, Task
from subnets.tasks.decoder import CausalLMTask, DecoderNERTask, DecoderNLITask
from subnets.tasks.mlm import MLMTask
from subnets.tasks.ner import NER_LABELS, NERTask
from subnets.tasks.nli import NLI_LABELS, NLITask, NLITextToTextTask

TASKS: dict[str, dict[str, type[Task]]] = {
    "bert": {"mlm": MLMTask, "ner": NERTask, "nli": NLITask},
    "t5": {"nli": NLITextToTextTask},
    # XLM-R / RoBERTa: BERT's adapters (they add token type ids only when the tokenizer has them; XLM-R's has not)
    "xlmr": {"mlm": MLMTask, "ner": NERTask, "nli": NLITask},
    "decoder": {"mlm": CausalLMTask, "ner": DecoderNERTask, "nli": DecoderNLITask},
}

__all__ = [
    "CausalLMTask",
    "DecoderNERTask",
    "DecoderNLITask",
    "NER_LABELS",
    "NLI_LABELS",
    "TASKS",
    "MLMTask",
    "MetricAccumulator",
    "NERTask",
    "NLITask",
    "NLITextToTextTask",
    "Task",
    "get_task",
]


def get_task(name: str, family: str = "bert", **options) -> Task:
    """The task called ``name`` for models of ``family`` (a key of :data:`TASKS`); ``options`` set its fields
    (e.g. ``get_task("mlm", min_tail_fraction=0)``)."""
    if family not in TASKS:
        raise ValueError(f"unknown model family {family!r}; known families: {', '.join(sorted(TASKS))}")
    if name not in TASKS[family]:
        raise ValueError(
            f"unknown task {name!r} for model family {family!r}; known tasks: {', '.join(sorted(TASKS[family]))}"
        )
    return TASKS[family][name](**options)
