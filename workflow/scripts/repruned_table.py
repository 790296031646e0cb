"""Footnote 9 for one task: own tickets, transfer into each language, and the random / re-pruned baselines."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

from subnets import analysis

sm = job.smk
own = analysis.runs_frame(analysis.read_json(sm.input.own))
transfer = analysis.runs_frame(analysis.read_json(sm.input.transfer))
baselines = analysis.runs_frame(analysis.read_json(sm.input.baselines))
table = analysis.baselines_against_transfer(
    own, transfer, baselines, language_order=list(sm.params.languages), baseline_order=list(sm.params.baselines)
)
analysis.write_table(
    table,
    sm.output.csv,
    sm.output.md,
    index=True,
    title=(
        f"# {sm.wildcards.task} at {int(sm.wildcards.sparsity)}% sparsity: tickets, transfer and baselines "
        "(mean over seeds; repruned<s> = own ticket at s% pruned on at random)"
    ),
)
