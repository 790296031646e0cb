"""Fig. 6's data: the relative transfer drop of every source language, task and sparsity in one table."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 (snakemake is injected)

import pandas as pd

from subnets import analysis

sm = snakemake  # noqa: F821
table = pd.concat([pd.read_csv(path) for path in sm.input], ignore_index=True)
analysis.write_table(
    table,
    sm.output.csv,
    sm.output.md,
    title="# Relative transfer drop (footnote 15; negative = worse than the target's own ticket)",
)
