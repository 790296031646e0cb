"""Fig. 7 (retrieval accuracy per layer) or Fig. 10 (SVCCA and PWCCA per layer) from the probe table."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

import pandas as pd

from subnets.plots import plot_cca, plot_retrieval

sm = job.smk
table = pd.read_csv(sm.input.table)
paths = [sm.output.png, sm.output.pdf]
if "accuracy" in table.columns:
    plot_retrieval(table, paths, task_order=list(sm.params.tasks), language_order=list(sm.params.languages))
else:
    plot_cca(table, paths, language_order=list(sm.params.languages))
