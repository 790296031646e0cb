"""All sub-networks' probe tables in one (long CSV), with a Markdown summary per layer: retrieval accuracy@1
(Fig. 7) or SVCCA and PWCCA (Fig. 10)."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

import pandas as pd

from subnets import analysis
from subnets.io import atomic_path

sm = job.smk
table = analysis.probe_frame(pd.read_csv(path) for path in sm.input)
analysis.write_table(table, sm.output.csv)
if "accuracy" in table.columns:
    sections = [("Retrieval accuracy@1 (%) per layer, mean over seeds", analysis.retrieval_summary(table))]
else:
    sections = [(f"{m.upper()} with the reference language per layer", analysis.cca_summary(table, m))
                for m in ("svcca", "pwcca")]  # fmt: skip
text = "".join(f"# {title}\n\n{analysis.to_markdown(frame, floatfmt='.3g', index=True)}\n" for title, frame in sections)
with atomic_path(sm.output.md) as tmp:
    tmp.write_text(text, encoding="utf-8")
