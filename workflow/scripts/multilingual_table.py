"""Table 1 for one task: the multilingual ticket beside single-language tickets, on each target language."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

from subnets import analysis

sm = job.smk
spec = sm.params.spec
table = analysis.multilingual_table(
    analysis.runs_frame(analysis.read_json(sm.input.dense)),
    analysis.runs_frame(analysis.read_json(sm.input.own)),
    analysis.runs_frame(analysis.read_json(sm.input.transfer)),
    spec["mixture"],
    spec["sources"],
    spec["targets"],
)
analysis.write_table(
    table,
    sm.output.csv,
    sm.output.md,
    index=True,
    title=(
        f"# {sm.wildcards.task}: tickets at {int(sm.wildcards.sparsity)}% sparsity trained on each target "
        f"(mean over seeds); {spec['mixture']} is the ticket found on the mixture"
    ),
)
