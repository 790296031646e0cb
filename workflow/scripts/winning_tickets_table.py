"""Table 2: the winning tickets of every task, one CSV and one Markdown table."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

import pandas as pd

from subnets import analysis

sm = job.smk
frames = [pd.read_csv(path) for path in sm.input]
table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
analysis.write_table(table, sm.output.csv)
analysis.write_table(
    analysis.table2_wide(table, sm.params.languages),
    sm.output.wide,
    sm.output.md,
    index=True,
    title="# Winning tickets (Table 2): dense mean, winning ticket f* at the highest sparsity s (%) within one "
    "dense std, and the random sub-network at s",
)
