"""Task adapters: one object per task of the study (MLM, WikiAnn NER, XNLI) behind one interface.

Metrics are reported on the paper's scales: F1 and accuracy in PERCENT (0-100), perplexity as is.
"""

from __future__ import annotations

from subnets.tasks.base import MetricAccumulator, Task
from subnets.tasks.mlm import MLMTask
from subnets.tasks.ner import NER_LABELS, NERTask
from subnets.tasks.nli import NLI_LABELS, NLITask

TASKS: dict[str, type[Task]] = {"mlm": MLMTask, "ner": NERTask, "nli": NLITask}

__all__ = [
    "NER_LABELS",
    "NLI_LABELS",
    "TASKS",
    "MLMTask",
    "MetricAccumulator",
    "NERTask",
    "NLITask",
    "Task",
    "get_task",
]


def get_task(name: str, **options) -> Task:
    """The task called ``name``; ``options`` set its fields (e.g. ``get_task("mlm", min_tail_fraction=0)``)."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    return TASKS[name](**options)
