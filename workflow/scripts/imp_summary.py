"""Per task: every IMP round in one table, the metric-vs-sparsity curve and the winning tickets (Table 2)."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

from subnets import analysis

sm = job.smk
order = sm.params.languages
runs = analysis.runs_frame(analysis.read_json(sm.input.metrics))
random_runs = analysis.runs_frame(analysis.read_json(sm.input.random)) if sm.input.random else None
task = sm.wildcards.task

analysis.write_table(runs, sm.output.rounds)
curve = analysis.sparsity_curve(runs, order)
analysis.write_table(
    curve, sm.output.curve, sm.output.curve_md, title=f"# {task}: metric against sparsity (mean and std over seeds)"
)
tickets = analysis.winning_tickets(runs, random_runs, order)
analysis.write_table(tickets, sm.output.tickets, title=None)
job.log(f"{len(runs)} rounds, {len(curve)} curve points, {len(tickets)} winning tickets")
