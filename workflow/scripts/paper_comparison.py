"""This run's Table 2, transfer matrices at 50% (Tables 3-5, or Table 6 for mT5) and multilingual tables
(Table 1) beside the paper's published cells, with the difference."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

from pathlib import Path

import pandas as pd

from subnets import analysis, paper

sm = job.smk
family = sm.params.family
# Tables 1 and 2 are mBERT's; the transfer matrices are per family (Table 6: mT5 XNLI).
cells = [paper.winning_tickets_cells(pd.read_csv(sm.input.tickets))] if family == "bert" else []
for path in sm.input.get("transfer", []):
    task = Path(path).parent.name
    if (family, task) in paper.TRANSFER_TABLES:
        matrix = pd.read_csv(path, index_col=0)
        cells.append(paper.matrix_cells(matrix, paper.TRANSFER_TABLES[(family, task)], task, family))
if family == "bert":
    for path in sm.input.get("multilingual", []):
        cells.append(paper.matrix_cells(pd.read_csv(path, index_col=0), 1, Path(path).parent.name))
table = paper.side_by_side(pd.concat(cells, ignore_index=True) if cells else paper.empty_cells())
analysis.write_table(
    table,
    sm.output.csv,
    sm.output.md,
    title=f"# This run beside the paper: {len(table)} shared cells (difference = ours - paper)",
)
job.log(f"{len(table)} cells shared with the paper")
