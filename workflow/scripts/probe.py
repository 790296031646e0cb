"""One zero-shot probe of theta0 * mask (or the dense theta0): retrieval (Fig. 7) or SVCCA / PWCCA (Fig. 10),
one row per layer (and language or direction)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 (snakemake is injected)

import torch

from subnets.data import load_parallel, load_parallel_premises
from subnets.io import atomic_path
from subnets.probes import cca_by_layer, load_masked_body, retrieval_by_layer

sm = snakemake  # noqa: F821
torch.set_num_threads(sm.threads)
spec = sm.params.spec
n = spec["n"]
model, tokenizer = load_masked_body(sm.input.model, sm.input.get("mask"))
options = {"batch_size": spec["batch_size"], "max_length": spec["max_length"]}
if sm.wildcards.kind == "retrieval":
    pairs = {}
    for src, tgt in spec["pairs"]:
        sources, targets = load_parallel(spec["source"], src=src, tgt=tgt, split=spec["split"])
        pairs[(src, tgt)] = (sources[:n], targets[:n])
    table = retrieval_by_layer(
        model, tokenizer, pairs, k=spec["k"], topk=spec["topk"],
        include_special_tokens=spec["include_special_tokens"], **options,
    )  # fmt: skip
elif sm.wildcards.kind == "cca":
    def premises(lang):
        return load_parallel_premises(spec["source"], lang=lang, split=spec["split"])[:n]

    others = {lang: premises(lang) for lang in spec["languages"]}
    table = cca_by_layer(
        model, tokenizer, (spec["reference"], premises(spec["reference"])), others,
        keep_variance=spec["keep_variance"], **options,
    )  # fmt: skip
else:
    raise ValueError(f"unknown probe {sm.wildcards.kind!r}: retrieval or cca")
table.insert(0, "subnetwork", sm.wildcards.subnetwork)
with atomic_path(sm.output[0]) as tmp:
    table.to_csv(tmp, index=False)
print(f"{sm.wildcards.kind} {sm.wildcards.subnetwork}: {len(table)} rows", file=sys.stderr)
