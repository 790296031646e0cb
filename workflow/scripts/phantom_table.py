"""The phantom table of a toy study: each planted relation of the world against each measurement, recovered or not."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

import json

import pandas as pd

from subnets import analysis
from subnets.phantom import phantom_table

sm = job.smk
tasks, inputs = list(sm.params.tasks), sm.input
manifest = json.loads(open(f"{inputs.world}/world.json", encoding="utf-8").read())
read = lambda path: pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"layer": str})  # noqa: E731
tickets = pd.read_csv(inputs.tickets)
overlap = {t: (read(o), read(b)) for t, o, b in zip(tasks, inputs.overlap, inputs.bound)}
higher = tickets.groupby("task")["higher_is_better"].first().to_dict()
transfer = {t: (pd.read_csv(m, index_col=0), bool(higher[t])) for t, m in zip(tasks, inputs.get("transfer", []))}
probes = {kind: pd.read_csv(inputs[kind]) if kind in inputs.keys() else None for kind in ("retrieval", "cca")}
table = phantom_table(manifest, overlap=overlap, tickets=tickets, transfer=transfer, tasks=tasks, **probes)
title = "# The phantom: planted relations of the toy world against what the pipeline measured"
analysis.write_table(table, sm.output.csv, sm.output.md, title=title)
job.log(f"{int(table['recovered'].eq(True).sum())} of {int(table['recovered'].notna().sum())} relations recovered")
