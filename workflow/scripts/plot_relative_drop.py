"""Fig. 6: relative transfer drop per source language, task and sparsity."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 (snakemake is injected)

import pandas as pd

from subnets.plots import plot_relative_drop

sm = snakemake  # noqa: F821
plot_relative_drop(pd.read_csv(sm.input.drops), [sm.output.png, sm.output.pdf], language_order=sm.params.languages)
