"""The phantom table: what the toy world planted, what each measurement should then show, and what it showed.

The toy world is a phantom: its language relations are planted (``world.json`` records each language's role),
so a correct pipeline must recover them, as a phantom calibrates a scanner. Roles, read from the manifest:
the pivot; its ``sister`` (related: shared words, same order); the ``distant`` language (another script and word
order); the ``low_resource`` one (a tenth of the pre-training text); a ``clone`` of the pivot (same grammar and
words, other text) when the world has one. Random sub-networks are the negative control.

Every row is reported, recovered or not; a relation whose languages the study does not have is left out. Rows:
``planted`` (the relation), ``measurement``, ``task``, ``expected``, ``observed`` (the numbers), ``recovered``
(True, False, or None where the measurement is undefined).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import pandas as pd

COLUMNS = ["planted", "measurement", "task", "expected", "observed", "recovered"]
ORDER = ("clone", "sister", "distant")  # overlap, transfer and similarity with the pivot: clone >= sister >= distant


def planted_roles(manifest: Mapping[str, Any]) -> dict[str, str]:
    """role -> language code of the world's manifest (pivot, sister, distant, low_resource, clone)."""
    languages = manifest["languages"]
    pivot = manifest["pivot"]
    home = languages[pivot]
    roles = {"pivot": pivot}
    for code, spec in languages.items():
        if code == pivot:
            continue
        if spec.get("clone_of") == pivot:
            roles.setdefault("clone", code)
        elif spec.get("related_to") == pivot:
            roles.setdefault("sister", code)
        elif spec["word_order"] != home["word_order"] and spec["script"] != home["script"]:
            roles.setdefault("distant", code)
        if spec.get("low_resource"):
            roles.setdefault("low_resource", code)
    return roles


def _ordering(values: Mapping[str, float], roles: Mapping[str, str]) -> tuple[str, bool | None]:
    """``observed`` text and whether clone >= sister >= distant holds among the roles present."""
    present = [(role, roles[role]) for role in ORDER if role in roles and roles[role] in values]
    numbers = [values[code] for _, code in present]
    observed = ", ".join(f"{role} {code} {values[code]:.3f}" for role, code in present)
    if len(present) < 2:
        return observed, None
    if any(math.isnan(x) for x in numbers):
        return observed, None
    return observed, all(a >= b for a, b in zip(numbers, numbers[1:]))


def _expected_order(roles: Mapping[str, str]) -> str:
    return " >= ".join(f"{role} ({roles[role]})" for role in ORDER if role in roles)


def overlap_rows(task: str, overlap: pd.DataFrame, bound: pd.DataFrame, roles: Mapping[str, str]) -> list[dict]:
    """Same-language bound above every cross-language pair of distinct languages (whole model), the clone inside
    the pivot's own cross-seed interval, and clone >= sister >= distant in overlap with the pivot."""
    rows = []
    whole = overlap[(overlap["layer"].astype(str) == "all") & (overlap["kind"] == "cross_language")]
    clone = roles.get("clone")
    distinct = whole[~whole["lang_a"].isin([clone]) & ~whole["lang_b"].isin([clone])]
    bound_all = bound[bound["layer"].astype(str) == "all"]
    if len(distinct) and len(bound_all):
        top = distinct.sort_values("jaccard").iloc[-1]
        level = float(bound_all["same_language"].iloc[0])
        rows.append({
            "planted": "a language is closest to itself", "measurement": "overlap (whole model, across seeds)",
            "task": task, "expected": "same-language bound above every cross-language pair",
            "observed": f"bound {level:.3f} (p = {float(bound_all['p_value'].iloc[0]):.3g} for below); highest pair "
                        f"{top['lang_a']}-{top['lang_b']} {top['jaccard']:.3f}",
            "recovered": None if math.isnan(level) else bool(level > top["jaccard"]),
        })  # fmt: skip
    pivot = roles["pivot"]
    with_pivot = {
        (row["lang_b"] if row["lang_a"] == pivot else row["lang_a"]): float(row["jaccard"])
        for _, row in whole.iterrows() if pivot in (row["lang_a"], row["lang_b"])
    }  # fmt: skip
    if clone in with_pivot and len(bound_all):
        low, high = float(bound_all["same_pi_low"].iloc[0]), float(bound_all["same_pi_high"].iloc[0])
        value = with_pivot[clone]
        rows.append({
            "planted": f"the clone {clone} is the pivot {pivot}", "measurement": "overlap (whole model)",
            "task": task, "expected": "pivot-clone overlap inside the 95% prediction interval of a same-language pair",
            "observed": f"{value:.3f} against [{low:.3f}, {high:.3f}]",
            "recovered": None if math.isnan(low) else bool(low <= value <= high),
        })  # fmt: skip
    observed, recovered = _ordering(with_pivot, roles)
    if recovered is not None:
        rows.append({"planted": "relatedness to the pivot", "measurement": "overlap with the pivot (whole model)",
                     "task": task, "expected": _expected_order(roles), "observed": observed,
                     "recovered": recovered})  # fmt: skip
    return rows


def transfer_rows(task: str, matrix: pd.DataFrame, higher_is_better: bool, roles: Mapping[str, str]) -> list[dict]:
    """The pivot's ticket on each language relative to that language's own ticket (relative drop), ordered by
    relatedness; and the paper's low-resource finding: some other language's ticket matches or beats the dense
    model on the low-resource language."""
    rows, pivot, sign = [], roles["pivot"], 1.0 if higher_is_better else -1.0
    if pivot in matrix.index:
        drops = {t: sign * (matrix.loc[pivot, t] - matrix.loc[t, t]) / matrix.loc[t, t]
                 for t in matrix.columns if t != pivot and t in matrix.index}  # fmt: skip
        observed, recovered = _ordering(drops, roles)
        if recovered is not None:
            rows.append({"planted": "relatedness to the pivot", "task": task,
                         "measurement": "relative drop of the pivot's ticket on the language",
                         "expected": _expected_order(roles) + " (smaller drop first)", "observed": observed,
                         "recovered": recovered})  # fmt: skip
    low = roles.get("low_resource")
    if low in matrix.columns and "dense" in matrix.index:
        others = [s for s in matrix.index if s not in ("dense", "random", low)]
        if others:
            best = max(others, key=lambda s: sign * matrix.loc[s, low])
            dense = matrix.loc["dense", low]
            rows.append({"planted": f"{low} is low-resource", "task": task,
                         "measurement": "best other language's ticket on it against the dense model",
                         "expected": "matches or beats the dense model (the paper's finding)",
                         "observed": f"{best} {matrix.loc[best, low]:.3f} against dense {dense:.3f}",
                         "recovered": bool(sign * matrix.loc[best, low] >= sign * dense)})  # fmt: skip
    return rows


def random_control_rows(tickets: pd.DataFrame) -> list[dict]:
    """The negative control: every winning ticket above the random sub-network at its sparsity."""
    rows = []
    for task, group in tickets.groupby("task", sort=False):
        sign = group["higher_is_better"].map(lambda h: 1.0 if h else -1.0)
        usable = group[group["random_mean"].notna()]
        above = (sign * group["ticket_mean"] > sign * group["random_mean"])[usable.index]
        rows.append({"planted": "random masks carry no language (negative control)", "task": task,
                     "measurement": "winning ticket against the random sub-network at its sparsity",
                     "expected": "every ticket above its random sub-network",
                     "observed": f"{int(above.sum())} of {len(usable)} above",
                     "recovered": bool(above.all()) if len(usable) else None})  # fmt: skip
    return rows


def probe_rows(measure: str, values: pd.DataFrame, value_column: str, roles: Mapping[str, str]) -> list[dict]:
    """clone >= sister >= distant at every layer >= 1 of a dense-model probe (retrieval from the pivot, SVCCA
    with the pivot): ``values`` has columns layer, language and ``value_column``."""
    layers = sorted(int(layer) for layer in values["layer"].unique() if int(layer) >= 1)
    failing, undefined = [], []
    for layer in layers:
        here = values[values["layer"].astype(int) == layer].set_index("language")[value_column].to_dict()
        _, recovered = _ordering(here, roles)
        if recovered is None:
            undefined.append(layer)
        elif not recovered:
            failing.append(layer)
    mean = values[values["layer"].astype(int).isin(layers)].groupby("language")[value_column].mean().to_dict()
    observed, _ = _ordering(mean, roles)
    if not layers or len(undefined) == len(layers):
        return []
    return [{"planted": "relatedness to the pivot", "measurement": f"{measure}, dense model, every layer >= 1",
             "task": "", "expected": _expected_order(roles) + " at every layer",
             "observed": f"mean over layers: {observed}; out of order at layers {failing or 'none'}",
             "recovered": not failing}]  # fmt: skip


def phantom_table(
    manifest: Mapping[str, Any],
    *,
    overlap: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]],
    tickets: pd.DataFrame | None = None,
    transfer: Mapping[str, tuple[pd.DataFrame, bool]] | None = None,
    retrieval: pd.DataFrame | None = None,
    cca: pd.DataFrame | None = None,
    tasks: Sequence[str] = (),
) -> pd.DataFrame:
    """Every planted relation against every measurement the study made. ``overlap``: task -> (overlap table,
    bound test); ``transfer``: task -> (transfer matrix, higher_is_better); ``retrieval`` and ``cca``: the probe
    tables (the dense model's rows are used)."""
    roles = planted_roles(manifest)
    rows = [{"planted": f"roles: {', '.join(f'{r} {c}' for r, c in roles.items())}", "measurement": "world.json",
             "task": "", "expected": "", "observed": "", "recovered": None}]  # fmt: skip
    for task in tasks:
        if task in overlap:
            rows += overlap_rows(task, *overlap[task], roles)
        if transfer and task in transfer:
            rows += transfer_rows(task, *transfer[task], roles)
    if tickets is not None:
        rows += random_control_rows(tickets)
    pivot = roles["pivot"]
    if retrieval is not None and len(retrieval):
        dense = retrieval[(retrieval["subnetwork"] == "dense") & (retrieval["topk"] == 1) & (retrieval["src"] == pivot)]
        rows += probe_rows("retrieval accuracy@1 from the pivot", dense.rename(columns={"tgt": "language"}),
                           "accuracy", roles)  # fmt: skip
    if cca is not None and len(cca):
        dense = cca[(cca["subnetwork"] == "dense") & (cca["reference"] == pivot)]
        rows += probe_rows("SVCCA with the pivot", dense, "svcca", roles)
    return pd.DataFrame(rows, columns=COLUMNS)
