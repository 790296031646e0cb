"""Fig. 4 for one task and sparsity: heatmap of a(source, target) - a(target, target)."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

import pandas as pd

from subnets.plots import plot_transfer_heatmap

sm = job.smk
matrix = pd.read_csv(sm.input.matrix, index_col=0)
drops = pd.read_csv(sm.input.drop)
higher = bool(drops["higher_is_better"].iloc[0]) if len(drops) else True
plot_transfer_heatmap(
    matrix,
    [sm.output.png, sm.output.pdf],
    higher_is_better=higher,
    title=f"{sm.wildcards.task}: transfer at {int(sm.wildcards.sparsity)}% sparsity",
)
