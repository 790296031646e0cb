"""Fig. 2 for one task: metric against sparsity per language, with the dense mean +- 1 std band."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

import pandas as pd

from subnets.plots import plot_sparsity_curves

sm = job.smk
curve = pd.read_csv(sm.input.curve)
plot_sparsity_curves(
    curve, [sm.output.png, sm.output.pdf], language_order=sm.params.languages, title=f"{sm.wildcards.task}: IMP"
)
