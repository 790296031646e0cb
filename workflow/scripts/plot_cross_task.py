"""Fig. 9: cross-task transfer per task trained, language and ticket's task."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 (snakemake is injected)

import pandas as pd

from subnets.plots import plot_cross_task

sm = snakemake  # noqa: F821
plot_cross_task(
    pd.read_csv(sm.input.table),
    [sm.output.png, sm.output.pdf],
    task_order=list(sm.params.tasks),
    language_order=list(sm.params.languages),
)
