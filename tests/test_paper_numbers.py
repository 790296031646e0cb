from __future__ import annotations

import pytest

from subnets import paper

LANGUAGES = ["ar", "de", "en", "es", "fa", "fr", "hi", "ru", "sw", "ur", "zh"]
NER_LANGUAGES = [lang for lang in LANGUAGES if lang not in ("hi", "sw")]
XNLI_LANGUAGES = [lang for lang in LANGUAGES if lang != "fa"]

# (rows, columns) of each table in the paper's layout
SHAPES = {
    "table1": (["mBERT", "f*", "en", "fa", "fr", "zh", "en-fa-fr-zh"], ["ar", "de", "es", "ru", "ur"]),
    "table3": (["mBERT", *LANGUAGES], LANGUAGES),
    "table4": (["mBERT", *XNLI_LANGUAGES], XNLI_LANGUAGES),
    "table5": (["mBERT", *NER_LANGUAGES], NER_LANGUAGES),
    "table6": (["mT5", *XNLI_LANGUAGES, "rand"], XNLI_LANGUAGES),
}
TABLE2_LANGUAGES = {"mlm": LANGUAGES, "ner": NER_LANGUAGES, "nli": XNLI_LANGUAGES}
TRANSFER_TABLES = {"mlm": "table3", "nli": "table4", "ner": "table5"}


def test_all_six_tables_are_there():
    assert paper.paper_tables() == [f"table{n}" for n in range(1, 7)]


@pytest.mark.parametrize("name", [f"table{n}" for n in range(1, 7)])
def test_long_format_is_complete_and_clean(name):
    table = paper.load_paper_table(name)
    number = int(name[len("table") :])
    assert list(table.columns) == list(paper.COLUMNS)
    assert (table["table"] == number).all()
    assert table["source"].str.startswith(f"Table {number},").all()
    assert table["value"].notna().all() and (table["value"] > 0).all()
    assert not table.duplicated(["task", "row", "column"]).any()
    assert set(table["model"]) <= {"mbert", "mt5"} and set(table["task"]) <= {"mlm", "ner", "nli"}
    assert paper.load_paper_table(number).equals(table)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_rows_and_columns_follow_the_paper(name):
    rows, columns = SHAPES[name]
    wide = paper.paper_table_wide(name)
    assert list(wide.index) == rows and list(wide.columns) == columns
    assert wide.notna().all().all()
    assert len(paper.load_paper_table(name)) == len(rows) * len(columns)


def test_table2_per_task():
    assert len(paper.load_paper_table("table2")) == 4 * (11 + 9 + 10)
    for task, languages in TABLE2_LANGUAGES.items():
        wide = paper.paper_table_wide("table2", task=task)
        assert list(wide.index) == languages
        assert list(wide.columns) == ["mBERT", "f*", "s (%)", "rand"]
    with pytest.raises(ValueError, match="several tasks"):
        paper.paper_table_wide("table2")


@pytest.mark.parametrize(
    "name, task, row, column, value",
    [
        ("table1", "ner", "mBERT", "ur", 95.52),
        ("table1", "ner", "f*", "ar", 88.5),
        ("table1", "ner", "en-fa-fr-zh", "es", 90.77),
        ("table1", "ner", "zh", "ur", 93.65),
        ("table2", "mlm", "en", "rand", 10.9182),
        ("table2", "mlm", "sw", "rand", 4.292),
        ("table2", "ner", "ur", "f*", 95.94),
        ("table2", "ner", "fa", "s (%)", 60),
        ("table2", "nli", "ur", "s (%)", 30),
        ("table2", "nli", "ur", "f*", 63.13),
        ("table2", "nli", "es", "rand", 67.67),
        ("table3", "mlm", "ru", "en", 5.0007),
        ("table3", "mlm", "fa", "de", 3.6334),
        ("table3", "mlm", "zh", "sw", 2.7675),
        ("table4", "nli", "ar", "ur", 64.68),
        ("table4", "nli", "en", "ru", 74.38),
        ("table4", "nli", "ur", "ur", 62.14),
        ("table5", "ner", "ur", "ur", 96.44),
        ("table5", "ner", "zh", "ar", 86.94),
        ("table5", "ner", "es", "fr", 89.93),
        ("table6", "nli", "mT5", "sw", 70.00),
        ("table6", "nli", "fr", "sw", 69.43),
        ("table6", "nli", "rand", "ur", 56.82),
        ("table6", "nli", "zh", "zh", 71.44),
    ],
)
def test_spot_values(name, task, row, column, value):
    assert paper.paper_table_wide(name, task=task).loc[row, column] == pytest.approx(value, abs=1e-9)


def test_sparsity_and_metric_columns():
    for name in ("table1", "table3", "table4", "table5", "table6"):
        table = paper.load_paper_table(name)
        dense = table["row"].isin(["mBERT", "mT5"])
        assert (table.loc[dense, "sparsity"] == 0).all() and (table.loc[~dense, "sparsity"] == 50).all()
    table2 = paper.load_paper_table("table2")
    s = table2[table2["column"] == "s (%)"].set_index(["task", "row"])["value"]
    for column in ("f*", "rand"):
        cells = table2[table2["column"] == column].set_index(["task", "row"])["sparsity"]
        assert (cells == s.loc[cells.index]).all()
    assert set(table2["metric"]) == {"perplexity", "f1", "accuracy", "sparsity_percent"}
    assert set(paper.load_paper_table("table3")["metric"]) == {"perplexity"}


@pytest.mark.parametrize("task", sorted(TRANSFER_TABLES))
def test_transfer_tables_agree_with_table2(task):
    """Two typings of the same numbers: the dense row, and the diagonal where Table 2's ticket is at 50%."""
    transfer = paper.paper_table_wide(TRANSFER_TABLES[task])
    table2 = paper.paper_table_wide("table2", task=task)
    for lang in TABLE2_LANGUAGES[task]:
        assert transfer.loc["mBERT", lang] == table2.loc[lang, "mBERT"]
        if table2.loc[lang, "s (%)"] == 50:
            assert transfer.loc[lang, lang] == table2.loc[lang, "f*"]


def test_unknown_table_is_refused():
    with pytest.raises(ValueError, match="table7"):
        paper.load_paper_table("table7")


def test_side_by_side_matches_cells_and_differences():
    import pandas as pd

    from subnets.analysis import DENSE, RANDOM
    from subnets.paper import load_paper_table, matrix_cells, side_by_side, winning_tickets_cells

    matrix = pd.DataFrame({"ar": [88.0, 87.0, 50.0], "xx": [1.0, 2.0, 3.0]}, index=[DENSE, "en", RANDOM])
    tickets = pd.DataFrame([{"task": "ner", "language": "ar", "dense_mean": 88.5, "ticket_mean": 88.0,
                             "ticket_sparsity": 50, "random_mean": 80.0}])
    ours = pd.concat([matrix_cells(matrix, 5, "ner"), winning_tickets_cells(tickets)], ignore_index=True)
    table = side_by_side(ours)
    published = {(r.table, r.task, r.row, r.column): r.value for r in pd.concat(
        [load_paper_table(5), load_paper_table(2)]).itertuples()}
    assert "xx" not in set(table["column"])  # an invented language matches nothing
    dense = table[(table["table"] == 5) & (table["row"] == "mBERT")].iloc[0]
    assert dense["paper"] == published[(5, "ner", "mBERT", "ar")] == 88.64
    assert dense["difference"] == pytest.approx(88.0 - 88.64)
    assert len(table[table["table"] == 5]) == 2  # mBERT and en rows on ar; Table 5 has no random row
    table2 = table[table["table"] == 2].set_index("column")
    assert set(table2.index) == {c for c in ("mBERT", "f*", "s (%)", "rand") if (2, "ner", "ar", c) in published}
    assert table2.loc["f*", "ours"] == 88.0 and table2.loc["f*", "paper"] == published[(2, "ner", "ar", "f*")]
    assert side_by_side(matrix_cells(matrix[["xx"]], 5, "ner")).empty


def test_mt5_matrix_meets_table6():
    import pandas as pd

    from subnets.analysis import DENSE
    from subnets.paper import TRANSFER_TABLES, matrix_cells, side_by_side

    matrix = pd.DataFrame({"en": [80.0, 79.0]}, index=[DENSE, "de"])
    table = side_by_side(matrix_cells(matrix, TRANSFER_TABLES[("t5", "nli")], "nli", "t5"))
    assert list(zip(table["row"], table["column"])) == [("mT5", "en"), ("de", "en")]
    assert table.loc[0, "paper"] == pytest.approx(83.13) and table.loc[0, "difference"] == pytest.approx(80.0 - 83.13)
