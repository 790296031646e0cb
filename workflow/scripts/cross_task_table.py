"""Appendix C: every task trained on each common language with its own and the other tasks' tickets."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

from subnets import analysis

sm = job.smk
records = analysis.read_json(sm.input)
runs = analysis.runs_frame(records)
# Own tickets are IMP rounds (no "mask" entry); carried-over tickets record the task they came from.
runs["ticket_task"] = [(r.get("mask") or {}).get("ticket_task") or r["task"] for r in records]
table = analysis.cross_task_table(runs, list(sm.params.tasks), list(sm.params.languages))
analysis.write_table(
    table,
    sm.output.csv,
    sm.output.md,
    title=f"# Cross-task transfer at {int(sm.wildcards.sparsity)}% sparsity (mean and std over seeds)",
)
