"""Fig. 3's data: Jaccard overlap per layer of the masks at one sparsity, for every language pair of a task,
the same-language cross-seed overlap (upper bound) and the random expectation k / (2 - k)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 (snakemake is injected)

from subnets import analysis
from subnets.masks import jaccard_by_layer, load_mask

sm = snakemake  # noqa: F821
languages, seeds = list(sm.params.languages), list(sm.params.seeds)
paths = dict(zip([(lang, seed) for lang in languages for seed in seeds], sm.input))
fingerprints = {}


def load(key):
    mask, metadata = load_mask(paths[key])
    fingerprints.setdefault(key[1], metadata.get("theta0_fingerprint"))
    return mask


# Seed by seed for cross-language pairs (one seed's masks in memory at a time), then language by language.
records = []
pairs = analysis.overlap_pairs(languages, seeds)
for seed in seeds:
    loaded = {lang: load((lang, seed)) for lang in languages}
    for kind, a, b in pairs:
        if kind == "cross_language" and a[1] == seed:
            records.append((kind, a, b, jaccard_by_layer([loaded[a[0]], loaded[b[0]]])))
    del loaded
for lang in languages:
    loaded = {seed: load((lang, seed)) for seed in seeds}
    for kind, a, b in pairs:
        if kind == "same_language" and a[0] == lang:
            records.append((kind, a, b, jaccard_by_layer([loaded[a[1]], loaded[b[1]]])))
    del loaded

table = analysis.overlap_table(records, task=sm.wildcards.task, sparsity=sm.params.sparsity, language_order=languages)
analysis.write_table(table, sm.output.csv)
wide = analysis.overlap_wide(table)
analysis.write_table(
    wide,
    sm.output.wide,
    sm.output.md,
    index=True,
    title=f"# {sm.wildcards.task}: Jaccard overlap per layer at {sm.params.sparsity}% sparsity (mean over seeds)",
)
print(f"{len(records)} mask pairs compared", file=sys.stderr)
