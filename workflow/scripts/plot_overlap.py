"""Fig. 3 for one task: Jaccard overlap per layer for every language pair, upper bound and random."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 (snakemake is injected)

import pandas as pd

from subnets.plots import plot_overlap

sm = snakemake  # noqa: F821
table = pd.read_csv(sm.input.overlap, keep_default_na=False, na_values=[""])
table["lang_a"] = table["lang_a"].fillna("")
table["lang_b"] = table["lang_b"].fillna("")
table["layer"] = table["layer"].astype(str)
plot_overlap(
    table,
    [sm.output.png, sm.output.pdf],
    language_order=sm.params.languages,
    title=f"{sm.wildcards.task}: overlap at {sm.params.sparsity}% sparsity",
)
