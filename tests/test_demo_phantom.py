"""The phantom's controls on a finished demo run: what must hold of the demo's tables for a correct pipeline.

Reads ``$SUBNETS_DEMO_RESULTS`` (default: ``results/demo`` of the repository), so after the README's demo command
``python -m pytest tests/test_demo_phantom.py`` checks it; skipped when there are no demo tables (CI runs no
demo; the micro study's controls are asserted in tests/test_workflow.py). The controls:

- negative: every ticket beats the random sub-network of its task, seed and sparsity;
- positive: the clone writes the pivot's parallel sentences word for word, so its representations are the
  pivot's: SVCCA and PWCCA 1 at every layer where CCA is defined, the gold sentence among the k nearest
  candidates at every layer; and the clone's tickets overlap the pivot's more than any two distinct languages'.

The other rows of the phantom table (sister above distant, the same-language bound above every pair, the
low-resource finding) are findings, not controls: the table reports them, recovered or not. The BERT demo's
fine-tuning regime is chosen so that its overlap rows are recovered (BENCHMARKS.md, "The calibrated phantom");
:func:`test_the_bert_demo_is_calibrated` holds it to that, so that a change of regime that loses them shows.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(os.environ.get("SUBNETS_DEMO_RESULTS", REPO / "results" / "demo"))
TABLES = RESULTS / "tables"

pytestmark = pytest.mark.skipif(
    not (TABLES / "phantom.csv").is_file(), reason=f"no demo run at {RESULTS} (set SUBNETS_DEMO_RESULTS)"
)


def _phantom() -> pd.DataFrame:
    return pd.read_csv(TABLES / "phantom.csv", keep_default_na=False)


def test_every_ticket_beats_its_random_subnetwork():
    rows = _phantom()
    negative = rows[rows["planted"] == "random masks carry no language (negative control)"]
    assert len(negative) and (negative["recovered"].astype(str) == "True").all(), negative.to_string()


def test_the_clone_is_the_pivot_to_the_probes():
    roles = _phantom()["planted"].iloc[0]
    if "clone" not in roles:
        pytest.skip(f"the demo world has no clone ({roles})")
    clone = roles.split("clone ")[1].split(",")[0]
    cca = pd.read_csv(TABLES / "cca.csv")
    defined = cca[(cca["language"] == clone)].dropna(subset=["svcca"])
    assert len(defined) and np.allclose(defined[["svcca", "pwcca"]].to_numpy(), 1.0, atol=1e-6)
    retrieval = pd.read_csv(TABLES / "retrieval.csv")
    widest = retrieval[(retrieval["tgt"] == clone) & (retrieval["topk"] == retrieval["topk"].max())]
    assert len(widest) and (widest["accuracy"] == 100).all()


def test_the_clone_is_closer_to_the_pivot_than_any_other_language():
    """Of the overlap rows, the control is the clone above every pair of distinct languages. Whether it also lies
    inside a same-language pair's prediction interval is a finding the phantom table reports: the clone's tickets
    are trained on other sentences than the pivot's, which the bound (one language's data, two seeds) never
    varies."""
    roles = _phantom()["planted"].iloc[0]
    if "clone" not in roles:
        pytest.skip(f"the demo world has no clone ({roles})")
    clone, pivot = roles.split("clone ")[1].split(",")[0], roles.split("pivot ")[1].split(",")[0]
    checked = 0
    named = re.compile(r"overlap_sparsity\d+\.csv")  # not the _by_layer tables
    tables = [path for path in TABLES.glob("*/overlap_sparsity*.csv") if named.fullmatch(path.name)]
    for path in sorted(tables):
        overlap = pd.read_csv(path)
        whole = overlap[(overlap["layer"].astype(str) == "all") & (overlap["kind"] == "cross_language")]
        pairs = {frozenset((a, b)): j for a, b, j in zip(whole["lang_a"], whole["lang_b"], whole["jaccard"])}
        if frozenset((pivot, clone)) not in pairs:
            continue
        others = [j for pair, j in pairs.items() if clone not in pair]
        assert others and pairs[frozenset((pivot, clone))] > max(others), path
        checked += 1
    if not checked:
        pytest.skip("no task of the demo has the clone")


@pytest.mark.skipif(RESULTS.name != "demo", reason="the calibration is the BERT demo's (config/demo.yaml)")
def test_the_bert_demo_is_calibrated():
    """Every overlap row of the phantom table recovered in every task: the bound above every pair of distinct
    languages, the clone inside a same-language pair's prediction interval, clone >= sister >= distant."""
    rows = _phantom()
    overlap = rows[rows["measurement"].str.startswith("overlap")]
    assert set(overlap["task"]) == {"mlm", "ner", "nli"}, overlap.to_string()
    assert (overlap["recovered"].astype(str) == "True").all(), overlap.to_string()
