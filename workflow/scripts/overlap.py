"""Fig. 3's data: Jaccard overlap per layer of the tickets at one sparsity, for every language pair of a task,
the same-language cross-seed overlap (upper bound) and the random expectation k / (2 - k)."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

from subnets import analysis, overlap

sm = job.smk
languages, seeds, sparsity = list(sm.params.languages), list(sm.params.seeds), sm.params.sparsity
paths = dict(zip([(lang, seed) for lang in languages for seed in seeds], sm.input))
records = overlap.measure(paths, languages, seeds)
table = overlap.overlap_table(records, task=sm.wildcards.task, sparsity=sparsity, language_order=languages)
analysis.write_table(table, sm.output.csv)
title = f"# {sm.wildcards.task}: Jaccard overlap per layer at {sparsity}% sparsity (mean over seeds)"
analysis.write_table(overlap.overlap_wide(table), sm.output.wide, sm.output.md, index=True, title=title)
job.log(f"{len(records)} mask pairs compared")
