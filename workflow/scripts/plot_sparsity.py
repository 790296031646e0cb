"""Fig. 2 for one task: metric against sparsity per language, with the dense mean +- 1 std band."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 (snakemake is injected)

import pandas as pd

from subnets.plots import plot_sparsity_curves

sm = snakemake  # noqa: F821
curve = pd.read_csv(sm.input.curve)
plot_sparsity_curves(
    curve, [sm.output.png, sm.output.pdf], language_order=sm.params.languages, title=f"{sm.wildcards.task}: IMP"
)
