"""Fig. 6's data: the relative transfer drop of every source language, task and sparsity in one table."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

import pandas as pd

from subnets import analysis

sm = job.smk
table = pd.concat([pd.read_csv(path) for path in sm.input], ignore_index=True)
analysis.write_table(
    table,
    sm.output.csv,
    sm.output.md,
    title="# Relative transfer drop (footnote 15; negative = worse than the target's own ticket)",
)
