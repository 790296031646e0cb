"""Appendix D for one task: per language, the dense model, the IMP ticket and each other method's mask at the
same sparsity, trained the same way (mean over the transfer seeds)."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

import pandas as pd

from subnets import analysis

sm = job.smk
sparsity = int(sm.wildcards.sparsity)
rounds = analysis.runs_frame(analysis.read_json(sm.input.rounds))
rounds["source"] = rounds["sparsity"].map(lambda s: analysis.DENSE if s == 0 else "imp")
trained = analysis.runs_frame(analysis.read_json(sm.input.trained))
runs = pd.concat([rounds, trained], ignore_index=True)
order = [analysis.DENSE, "imp", *sm.params.methods]
means = runs.groupby(["language", "source"])["metric"].mean().unstack("source")
means = means.reindex(index=analysis.ordered(means.index, list(sm.params.languages)), columns=order)
means.columns.name = "sub-network"
analysis.write_table(
    means,
    sm.output.csv,
    sm.output.md,
    index=True,
    title=f"# {sm.wildcards.task}: masks of each method at {sparsity}% sparsity, trained (mean over seeds)",
)
