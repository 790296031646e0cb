"""Fig. 3 for one task: Jaccard overlap per layer for every language pair with its interval, the same-language
bound with its interval, and random."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

import pandas as pd

from subnets.plots import plot_overlap

sm = job.smk
table = pd.read_csv(sm.input.overlap, keep_default_na=False, na_values=[""])
table[["lang_a", "lang_b"]] = table[["lang_a", "lang_b"]].fillna("")
table["layer"] = table["layer"].astype(str)
bound = pd.read_csv(sm.input.bound, dtype={"layer": str})
title = f"{job.task_name}: overlap at {sm.params.sparsity}% sparsity"
plot_overlap(table, [sm.output.png, sm.output.pdf], bound=bound, language_order=sm.params.languages, title=title)
