"""Fig. 6: relative transfer drop per source language, task and sparsity."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

import pandas as pd

from subnets.plots import plot_relative_drop

sm = job.smk
plot_relative_drop(pd.read_csv(sm.input.drops), [sm.output.png, sm.output.pdf], language_order=sm.params.languages)
