"""Fig. 3 for one task: Jaccard overlap per layer for every language pair, upper bound and random."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

import pandas as pd

from subnets.plots import plot_overlap

sm = job.smk
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
