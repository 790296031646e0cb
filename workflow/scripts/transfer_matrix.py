"""Tables 3-5 for one task and sparsity: a(source, target) with the dense row and the random row, whether each
transfer succeeds (within one std of a(t, t)), and the relative transfer drop per source (footnote 15)."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

import pandas as pd

from subnets import analysis

sm = job.smk
task, sparsity, order = sm.wildcards.task, int(sm.wildcards.sparsity), list(sm.params.languages)
diagonal = analysis.runs_frame(analysis.read_json(sm.input.diagonal))
diagonal["source"] = diagonal["language"]
transfer = analysis.runs_frame(analysis.read_json(sm.input.transfer))
random_runs = analysis.runs_frame(analysis.read_json(sm.input.random))
dense = analysis.runs_frame(analysis.read_json(sm.input.dense))
runs = pd.concat([diagonal, transfer, random_runs], ignore_index=True)
higher = bool(runs["higher_is_better"].iloc[0])

matrix = analysis.transfer_matrix(runs, dense, order)
success = analysis.transfer_success(runs[runs["source"] != analysis.RANDOM])
drop = analysis.relative_transfer_drop(matrix.loc[[s for s in matrix.index if s in order]], higher_is_better=higher)

analysis.write_table(runs, sm.output.runs)
analysis.write_table(
    matrix,
    sm.output.matrix,
    sm.output.md,
    index=True,
    title=f"# {task}: a(source, target) at {sparsity}% sparsity (mean over seeds; rows: sub-network, columns: target)",
)
analysis.write_table(success, sm.output.success, index=True)
frame = drop.reset_index()
frame.insert(0, "task", task)
frame.insert(1, "sparsity", sparsity)
frame["higher_is_better"] = higher
analysis.write_table(frame, sm.output.drop)
