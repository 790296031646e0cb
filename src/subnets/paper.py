"""The published numbers of Foroutan et al. (2022), "Discovering Language-neutral Sub-networks in Multilingual
Language Models", Tables 1 to 6, so that a run of this pipeline can be put beside them.

Where each number comes from (the CSV files in ``subnets/paper_numbers/``, one per table):

- ``table1``: Table 1, Section 5 ("Multilingual Sub-networks"). NER F1 on ar / de / es / ru / ur of the dense
  mBERT, of each target's own ticket (row "f*") and of the en, fa, fr, zh and combined "en-fa-fr-zh" tickets,
  all at 50% sparsity.
- ``table2``: Table 2 (printed in the appendix pages; the numbers behind Fig. 2 of Section 5). Per task and
  language: dense mBERT, the winning ticket f* at the highest sparsity s (%) at which IMP finds one, and a
  random sub-network ("rand") at that s. Cells printed as "-" (fa for XNLI; hi and sw for NER) are absent.
- ``table3`` / ``table4`` / ``table5``: Appendix A. Transfer of 50%-sparse tickets on MLM (perplexity),
  XNLI (accuracy) and NER (F1): row = the source language of the ticket ("mBERT" = the dense model),
  column = the target language it is trained and evaluated on; the numbers behind Fig. 4.
- ``table6``: Appendix A. The same for XNLI on mT5 (row "mT5" dense, row "rand" a random 50% sub-network);
  the numbers behind Fig. 5.

Long format, one row per printed cell: ``table`` (number), ``task`` (mlm / ner / nli, the pipeline's task
names), ``model`` (mbert / mt5), ``row`` and ``column`` (the paper's labels, markup removed), ``sparsity``
(integer percent of the cell's sub-network: 0 for the dense rows, s for Table 2's f* and rand), ``metric``
(perplexity, f1, accuracy, or sparsity_percent for Table 2's "s (%)" cells), ``value`` (as printed; F1 and
accuracy in percent) and ``source`` (table and section). The markdown copy of the paper has no page numbers,
so the source names the section.

The tables were typed from the paper and each cell re-checked against its text. The paper itself is not
always consistent, and the numbers are kept as printed: Table 1's mBERT row and its "f*" de cell differ from
the same cells of Tables 2 and 5 (e.g. ar 88.69 vs 88.64; f* de 89.01 vs 88.81), and the ar / de columns
of its en, fa, fr and zh rows differ from Table 5 (e.g. en -> ar 87.23 vs 87.21).
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

COLUMNS = ("table", "task", "model", "row", "column", "sparsity", "metric", "value", "source")
_DIRECTORY = "paper_numbers"


def paper_tables() -> list[str]:
    """Names of the stored tables ("table1" ... "table6"), in table order."""
    files = resources.files("subnets").joinpath(_DIRECTORY).iterdir()
    names = [f.name[: -len(".csv")] for f in files if f.name.endswith(".csv")]
    return sorted(names, key=lambda name: int(name[len("table") :]))


def load_paper_table(name: str | int) -> pd.DataFrame:
    """One table in long format (columns :data:`COLUMNS`, rows in the paper's reading order).

    ``name`` is one of :func:`paper_tables` ("table3") or the table's number (3).
    """
    if not isinstance(name, str):
        name = f"table{name}"
    known = paper_tables()
    if name not in known:
        raise ValueError(f"no published table {name!r}; known: {known}")
    with resources.files("subnets").joinpath(_DIRECTORY, f"{name}.csv").open(encoding="utf-8") as handle:
        table = pd.read_csv(handle, dtype={"row": str, "column": str}, keep_default_na=False)
    missing = [column for column in COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(f"paper table {name!r} lacks columns {missing}")
    return table[list(COLUMNS)]


def paper_table_wide(name: str | int, task: str | None = None) -> pd.DataFrame:
    """A table in the paper's own layout: index = the paper's rows, columns = its columns.

    Table 2 holds three tasks side by side; pass ``task`` to get one of them (its columns mBERT, f*, s (%),
    rand). Row and column order is the paper's.
    """
    table = load_paper_table(name)
    if task is not None:
        table = table[table["task"] == task]
        if table.empty:
            raise ValueError(f"paper table {name!r} has no task {task!r}")
    elif table["task"].nunique() > 1:
        raise ValueError(f"paper table {name!r} holds several tasks {sorted(table['task'].unique())}; pass task=")
    wide = table.pivot(index="row", columns="column", values="value")
    return wide.loc[list(dict.fromkeys(table["row"])), list(dict.fromkeys(table["column"]))]
