"""Fig. 3's data: Jaccard overlap per layer of the tickets at one sparsity for every language pair (across seeds,
and same seed apart), the same-language cross-seed bound, the random expectation k / (2 - k), intervals over seed
pairs, and the per-layer test of "cross-language overlap lies below the same-language bound"."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

from subnets import analysis, overlap

sm = job.smk
languages, seeds, sparsity, task = list(sm.params.languages), list(sm.params.seeds), sm.params.sparsity, job.task_name
paths = dict(zip([(lang, seed) for lang in languages for seed in seeds], sm.input))
records = overlap.measure(paths, languages, seeds)
table = overlap.overlap_table(records, task=task, sparsity=sparsity, language_order=languages)
analysis.write_table(table, sm.output.csv)
title = f"# {task}: Jaccard overlap per layer at {sparsity}% sparsity (mean over seed pairs)"
analysis.write_table(overlap.overlap_wide(table), sm.output.wide, sm.output.md, index=True, title=title)
test = overlap.bound_test(records, task=task, sparsity=sparsity)
title = f"# {task}: cross-language overlap (different seeds) against the same-language bound, per layer"
analysis.write_table(test, sm.output.bound, sm.output.bound_md, title=title)
job.log(f"{len(records)} mask pairs compared")
