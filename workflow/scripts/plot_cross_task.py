"""Fig. 9: cross-task transfer per task trained, language and ticket's task."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

import pandas as pd

from subnets.plots import plot_cross_task

sm = job.smk
plot_cross_task(
    pd.read_csv(sm.input.table),
    [sm.output.png, sm.output.pdf],
    task_order=list(sm.params.tasks),
    language_order=list(sm.params.languages),
)
