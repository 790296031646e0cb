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

from subnets.study.names import DENSE, RANDOM

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


# ------------------------------------------------------------------------------- this run beside the paper

# Which published table holds a task's transfer matrix (at 50% sparsity), per model family.
TRANSFER_TABLES = {("bert", "mlm"): 3, ("bert", "nli"): 4, ("bert", "ner"): 5, ("t5", "nli"): 6}
DENSE_ROW = {"bert": "mBERT", "t5": "mT5"}


CELL_COLUMNS = ["table", "task", "row", "column", "value"]


def empty_cells() -> pd.DataFrame:
    """No cells of ours (e.g. a study whose tables the paper does not have)."""
    return pd.DataFrame(columns=CELL_COLUMNS)


def winning_tickets_cells(tickets: pd.DataFrame) -> pd.DataFrame:
    """This run's Table 2 (``subnets.analysis.winning_tickets`` rows) as cells of the published Table 2."""
    cells = []
    for row in tickets.itertuples(index=False):
        for column, value in (("mBERT", row.dense_mean), ("f*", row.ticket_mean),
                              ("s (%)", row.ticket_sparsity), ("rand", row.random_mean)):  # fmt: skip
            cells.append({"table": 2, "task": row.task, "row": row.language, "column": column, "value": value})
    return pd.DataFrame(cells, columns=CELL_COLUMNS)


def matrix_cells(matrix: pd.DataFrame, table: int, task: str, family: str = "bert") -> pd.DataFrame:
    """A matrix of ours (index = sub-network, columns = target) as cells of a published table: the dense row
    is named as the paper names it, "own (f*)" becomes "f*", "random" becomes "rand"."""
    names = {DENSE: DENSE_ROW[family], "own (f*)": "f*", RANDOM: "rand"}
    cells = [
        {"table": table, "task": task, "row": names.get(str(source), str(source)), "column": str(target),
         "value": matrix.loc[source, target]}  # fmt: skip
        for source in matrix.index
        for target in matrix.columns
    ]
    return pd.DataFrame(cells, columns=CELL_COLUMNS)


def side_by_side(ours: pd.DataFrame) -> pd.DataFrame:
    """Every cell that this run (``ours``: table, task, row, column, value) and the paper both have, with the
    difference ours - paper. Cells that only one side has are left out; an empty frame when none match
    (e.g. the toy world's invented languages)."""
    published = pd.concat([load_paper_table(name) for name in paper_tables()], ignore_index=True)
    keys = ["table", "task", "row", "column"]
    ours = ours.dropna(subset=["value"]).astype({"table": int, "row": str, "column": str})
    merged = ours.merge(published, on=keys, how="inner", suffixes=("", "_paper"))
    result = merged.rename(columns={"value": "ours", "value_paper": "paper"})
    result["difference"] = result["ours"] - result["paper"]
    columns = keys + ["metric", "ours", "paper", "difference", "source"]
    return result[columns].sort_values(keys[:2], kind="stable").reset_index(drop=True)
