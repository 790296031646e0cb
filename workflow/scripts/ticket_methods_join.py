"""The ticket_methods tables of every task in one (rows and summary)."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

from subnets.ticket_methods import join

sm = job.smk
join(sm.input.csv, sm.output.csv, sm.output.md, "# Cheaper ways to a ticket against IMP")
join(sm.input.summary, sm.output.summary, sm.output.summary_md, "# Does each method reach IMP's conclusions?")
