"""Cost against agreement with IMP: each method's masks, per task."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

import pandas as pd

from subnets.plots import plot_ticket_methods

sm = job.smk
plot_ticket_methods(pd.read_csv(sm.input[0]), [sm.output.png, sm.output.pdf])
