"""Workflow tests: snakemake on the micro config (config/micro.yaml) in a temporary directory.

- the whole micro study runs end to end; every table has the expected shape and value ranges, every figure
  exists and is non-empty, and a second run has nothing to do;
- config errors (unknown key, wrong type, a language the data lacks) stop before any job, naming the key;
- partial reruns: a changed learning rate of one task plans only that task's training jobs and the aggregates
  above them; removing one round's outputs plans only that round and what depends on it.

Run with ``pytest -m workflow``; the end-to-end run takes a few minutes on 2 cores.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

pytest.importorskip("snakemake")

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
MICRO = REPO / "config" / "micro.yaml"
TASKS = ("mlm", "ner", "nli")
LANGS = ("t0", "t1")
SEEDS = (0, 1)
TRANSFER_SEEDS = (0,)  # analysis.transfer_seeds: the runs built on tickets use seed 0 only
LEVELS = (0, 20, 40)


def snakemake_command(workdir: Path, configfile: Path, *args: str) -> list[str]:
    exe = shutil.which("snakemake")
    command = [exe] if exe else [sys.executable, "-m", "snakemake"]
    return command + ["-s", str(SNAKEFILE), "-d", str(workdir), "--configfile", str(configfile), *args]


SNAKEMAKE_ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}


def snakemake(workdir: Path, configfile: Path, *args: str) -> subprocess.CompletedProcess:
    command = snakemake_command(workdir, configfile, *args)
    return subprocess.run(command, capture_output=True, text=True, env=SNAKEMAKE_ENV, cwd=workdir, timeout=1200, check=False)


def write_config(path: Path, edit=None) -> Path:
    config = yaml.safe_load(MICRO.read_text())
    if edit is not None:
        edit(config)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


IMP_LEVEL_RULE = re.compile(r"imp_round_(\d+)")  # one IMP rule per level: imp_round_00, imp_round_20, ...


def planned_jobs(output: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job a dry run (-n) plans; the per-level IMP rules as "imp_round" with the
    level as wildcard "sparsity"."""
    jobs = []
    for block in re.split(r"\n(?=\[[^\]]+\]\n|rule |localrule )", output):
        match = re.search(r"^(?:local)?rule (\w+):", block, flags=re.MULTILINE)
        if not match:
            continue
        wildcards = {}
        found = re.search(r"^\s+wildcards: (.*)$", block, flags=re.MULTILINE)
        if found:
            wildcards = dict(item.split("=", 1) for item in found.group(1).split(", "))
        rule, level = match.group(1), IMP_LEVEL_RULE.fullmatch(match.group(1))
        if level:
            rule, wildcards["sparsity"] = "imp_round", str(int(level.group(1)))
        jobs.append((rule, wildcards))
    return jobs


def job_stats(output: str) -> dict[str, int]:
    """The "Job stats" table of a snakemake run or dry run: rule -> count."""
    table = output.split("Job stats:", 1)[1]
    stats = {}
    for line in table.splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        rule = "imp_round" if IMP_LEVEL_RULE.fullmatch(parts[0]) else parts[0]
        stats[rule] = stats.get(rule, 0) + int(parts[1])
    return stats


@pytest.fixture(scope="module")
def micro_run(tmp_path_factory):
    """The micro study, run once for the module."""
    workdir = tmp_path_factory.mktemp("micro")
    configfile = write_config(workdir / "micro.yaml")
    result = snakemake(workdir, configfile, "--cores", "2")
    assert result.returncode == 0, result.stderr[-6000:]
    return workdir, configfile


# ------------------------------------------------------------------------------------------ end to end


def test_micro_tables(micro_run):
    workdir, _ = micro_run
    tables = workdir / "results" / "micro" / "tables"

    tickets = pd.read_csv(tables / "winning_tickets.csv")
    assert len(tickets) == len(TASKS) * len(LANGS)
    assert set(tickets["task"]) == set(TASKS) and set(tickets["language"]) == set(LANGS)
    assert tickets["ticket_sparsity"].isin(LEVELS).all()
    assert (tickets["n_seeds"] == len(SEEDS)).all()
    ner, mlm = tickets[tickets["task"] == "ner"], tickets[tickets["task"] == "mlm"]
    assert ner[["dense_mean", "ticket_mean"]].stack().between(0, 100).all()
    assert (mlm[["dense_mean", "ticket_mean"]] >= 1).all().all()  # perplexity
    assert not mlm["higher_is_better"].any() and ner["higher_is_better"].all()
    at_random_level = tickets[tickets["ticket_sparsity"] == 40]
    assert at_random_level["random_mean"].notna().all()  # the random sub-network was trained at 40%
    markdown = (workdir / "results/micro/tables/winning_tickets.md").read_text()
    assert all(f"\n| {lang} |" in markdown for lang in LANGS)  # Table 2's layout: one row per language
    assert all(f"{task} f*" in markdown for task in TASKS)

    for task in TASKS:
        rounds = pd.read_csv(tables / task / "imp_rounds.csv")
        assert len(rounds) == len(LANGS) * len(SEEDS) * len(LEVELS)
        assert sorted(rounds["sparsity"].unique()) == list(LEVELS)
        assert rounds["metric"].map(math.isfinite).all()
        curve = pd.read_csv(tables / task / "sparsity_curve.csv")
        assert len(curve) == len(LANGS) * len(LEVELS)
        assert (curve["n_seeds"] == len(SEEDS)).all() and (curve["std"] >= 0).all()
        assert curve[curve["sparsity"] == 0]["winning"].all()

        overlap = pd.read_csv(tables / task / "overlap_sparsity40.csv", keep_default_na=False)
        # 2 encoder layers; only the NLI model (sequence classification) has a pooler
        layers = ["0", "1", "all"] + (["pooler"] if task == "nli" else [])
        assert sorted(overlap["layer"].astype(str).unique()) == sorted(layers)
        counts = Counter(overlap["kind"])
        n = len(layers)
        # t0-t1 across seeds (2 seed pairs) and with the same seed (2), each language across seeds (1)
        assert counts == {"cross_language": n, "cross_language_same_seed": n, "same_language": 2 * n, "random": n}
        assert overlap["jaccard"].astype(float).between(0, 1).all()
        cross = overlap[overlap["kind"] == "cross_language"]
        assert (cross["n"].astype(int) == 2).all() and (cross["ci_low"].astype(float) <= cross["jaccard"].astype(float)).all()
        bound = pd.read_csv(tables / task / "overlap_bound_sparsity40.csv", dtype={"layer": str})
        assert sorted(bound["layer"]) == sorted(layers) and bound["p_value"].between(0, 1).all()
        assert (bound["n_cross"] == 2).all() and (bound["n_bound"] == 2).all()
        # a pair's mean of 2 seed pairs varies less than one pair but the interval is still wider than the mean's
        widths = bound["same_pi_high"] - bound["same_pi_low"], bound["bound_ci_high"] - bound["bound_ci_low"]
        assert (widths[0] >= widths[1]).all()
        random = overlap[overlap["kind"] == "random"]["jaccard"].astype(float)
        assert random.tolist() == pytest.approx([0.6 / 1.4] * n)

        matrix = pd.read_csv(tables / task / "transfer_sparsity40.csv", index_col=0)
        assert list(matrix.index) == ["dense", *LANGS, "random"]
        assert list(matrix.columns) == list(LANGS)
        assert matrix.notna().all().all()

        baselines = pd.read_csv(tables / task / "repruned_baselines_sparsity40.csv", index_col=0)
        assert list(baselines.index) == ["ticket", "transfer mean", "transfer worst", "repruned20", "random"]
        assert list(baselines.columns) == list(LANGS) and baselines.notna().all().all()

    cross = pd.read_csv(tables / "cross_task_sparsity40.csv")
    assert len(cross) == len(TASKS) * len(LANGS) * len(TASKS)  # each task with each task's ticket
    assert (cross["n"] == len(TRANSFER_SEEDS)).all() and cross["mean"].map(math.isfinite).all()
    own = cross[cross["task"] == cross["ticket_task"]]
    assert (own["drop_vs_own"] == 0).all() and len(own) == len(TASKS) * len(LANGS)

    multilingual = pd.read_csv(tables / "ner" / "multilingual_sparsity40.csv", index_col=0)
    assert list(multilingual.index) == ["dense", "own (f*)", "t0", "t1", "t0-t1"]
    assert list(multilingual.columns) == list(LANGS) and multilingual.notna().all().all()
    assert multilingual.stack().between(0, 100).all()

    methods_on = ["lt_sft", "fish", "oneshot", "early_bird", "wanda"]
    methods = pd.read_csv(tables / "ner" / "mask_methods_sparsity40.csv", index_col=0)  # mask_methods.tasks: [ner]
    assert list(methods.columns) == ["dense", "imp", *methods_on] and list(methods.index) == list(LANGS)
    assert methods.notna().all().all()
    from subnets.masks import load_mask

    for method in methods_on:
        mask, metadata = load_mask(workdir / f"results/micro/masks/{method}/ner/t0/seed0/sparsity40.safetensors")
        assert metadata["method"] == method and metadata["sparsity"] == pytest.approx(0.4, abs=1e-3)
        assert metadata["cost_from_theta0"]["flops"] > 0
    compared = pd.read_csv(tables / "ticket_methods.csv")
    assert len(compared) == len(LANGS) * (1 + len(methods_on)) and set(compared["task"]) == {"ner"}
    assert compared[["metric", "imp_metric", "jaccard_to_imp", "cost_flops", "cost_ratio"]].notna().all().all()
    imp = compared[compared["method"] == "imp"]
    assert (imp["jaccard_to_imp"] == 1).all() and (imp["cost_ratio"] == 1).all() and imp["matches_imp"].all()
    two_rounds = load_mask(workdir / "results/micro/tickets/ner/t0/seed0/sparsity40.safetensors")[1]["cost_from_theta0"]
    assert imp[imp["language"] == "t0"]["imp_cost_flops"].item() == pytest.approx(two_rounds["flops"])
    summary = pd.read_csv(tables / "ticket_methods_summary.csv")
    assert list(summary["method"]) == methods_on and (summary["transfer_points"] == 2).all()
    assert summary["matches_imp"].between(0, len(LANGS)).all()
    assert (workdir / "results/micro/figures/ticket_methods_cost_agreement.png").stat().st_size > 1000

    retrieval = pd.read_csv(tables / "retrieval.csv")
    layers = 3  # embeddings and 2 encoder layers
    subnetworks = 1 + len(TASKS) * len(LANGS) * len(TRANSFER_SEEDS)  # dense and every ticket at 40%
    assert retrieval["subnetwork"].nunique() == subnetworks
    assert len(retrieval) == subnetworks * 2 * 2 * layers * 2  # two pairs, both directions, every layer, @1 and @5
    assert retrieval["accuracy"].between(0, 100).all()
    assert (retrieval[retrieval["topk"] == 5]["accuracy"].values >= retrieval[retrieval["topk"] == 1]["accuracy"].values).all()
    cca = pd.read_csv(tables / "cca.csv")
    assert sorted(cca["subnetwork"].unique()) == ["dense", "nli/t0/seed0-sparsity40"]
    assert len(cca) == 2 * 2 * layers  # two languages
    # Layer 0's [CLS] vector is one embedding for every sentence: CCA is undefined there (NaN), not 0.
    assert cca[cca["layer"] == 0][["svcca", "pwcca"]].isna().all().all()
    assert cca[cca["layer"] > 0][["svcca", "pwcca"]].stack().between(0, 1 + 1e-9).all()
    # Positive controls that hold for any model: the clone t8 writes the pivot's parallel sentences word for
    # word, so its representations are the pivot's: CCA 1 at every layer, and the gold among the k = 5 candidates.
    clone = cca[(cca["language"] == "t8") & (cca["layer"] > 0)]
    assert len(clone) == 2 * (layers - 1) and np.allclose(clone[["svcca", "pwcca"]].to_numpy(), 1.0, atol=1e-6)
    to_clone = retrieval[(retrieval["tgt"] == "t8") & (retrieval["topk"] == 5)]
    assert len(to_clone) == subnetworks * layers and (to_clone["accuracy"] == 100).all()
    comparison = pd.read_csv(tables / "paper_comparison.csv")
    assert comparison.empty  # the toy world's languages are not the paper's
    assert list(comparison.columns) == ["table", "task", "row", "column", "metric", "ours", "paper", "difference", "source"]

    phantom = pd.read_csv(tables / "phantom.csv")
    assert list(phantom.columns) == ["planted", "measurement", "task", "expected", "observed", "recovered"]
    assert phantom["planted"].iloc[0] == "roles: pivot t0, sister t1, clone t8"  # the micro world's roles
    assert set(phantom["task"].dropna()) == set(TASKS)
    assert (phantom["planted"] == "random masks carry no language (negative control)").sum() == len(TASKS)

    drops = pd.read_csv(tables / "relative_transfer_drop.csv")
    assert len(drops) == len(TASKS) * len(LANGS)
    assert drops["relative_transfer_drop"].map(math.isfinite).all()
    assert drops["relative_transfer_drop"].abs().lt(10).all()


def test_micro_figures(micro_run):
    workdir, _ = micro_run
    figures = workdir / "results" / "micro" / "figures"
    names = [f"fig2_sparsity_{t}" for t in TASKS] + [f"fig3_overlap_{t}" for t in TASKS]
    names += [f"fig4_transfer_{t}_sparsity40" for t in TASKS] + ["fig6_relative_drop", "fig9_cross_task_sparsity40"]
    names += ["fig7_retrieval", "fig10_cca"]
    for name in names:
        for ext, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF")):
            path = figures / f"{name}.{ext}"
            assert path.is_file() and path.stat().st_size > 1000, path
            assert path.read_bytes()[:4] == magic


def test_micro_masks_and_metrics(micro_run):
    from subnets.masks import load_mask

    workdir, _ = micro_run
    results = workdir / "results/micro"
    round_dir = results / "imp/ner/t1/seed1/sparsity20"
    ticket = results / "tickets/ner/t1/seed1/sparsity40.safetensors"  # what the round at 20% pruned to
    _, metadata = load_mask(ticket)
    assert metadata["sparsity"] == pytest.approx(0.4, abs=1e-3)
    assert metadata["sparsity_percent"] == 40 and metadata["parent_sparsity_percent"] == 20
    assert metadata["parent"] == "results/micro/tickets/ner/t1/seed1/sparsity20.safetensors"
    assert (metadata["task"], metadata["language"], metadata["seed"], metadata["method"]) == ("ner", "t1", 1, "imp")
    assert len(metadata["theta0_fingerprint"]) == 16
    metrics = pd.read_json(round_dir / "metrics.json", typ="series")
    assert metrics["theta0_fingerprint"] == metadata["theta0_fingerprint"]
    assert metrics["sparsity"] == 20 and metrics["mask_sparsity"] == pytest.approx(0.2, abs=1e-3)
    # What every run read, so that it can be repeated: theta0's source and the prepared data.
    trained = pd.read_json(results / "train/ner/t1/seed0/t0-sparsity40/metrics.json", typ="series")
    for record in (metrics, trained):
        assert record["theta0_source"] == {"kind": "toy"}
        assert record["data"]["splits"]["train"]["size"] == 64 and record["data"]["source"].endswith("ner/t1")
    # No path holds a mask of another sparsity than its name says; round folders hold metrics only.
    tickets = sorted((results / "tickets").rglob("*.safetensors"))
    assert len(tickets) == len(TASKS) * len(LANGS) * len(SEEDS) * 3 + 2  # 20, 40 and 60%; the mixture: 20, 40
    for path in tickets + sorted((results / "masks").rglob("*.safetensors")):
        level = int(re.fullmatch(r"sparsity(\d+)\.safetensors", path.name).group(1))
        assert load_mask(path)[1]["sparsity_percent"] == level, path
    assert not list((results / "imp").rglob("*.safetensors"))


def test_report_holds_every_figure(micro_run, tmp_path):
    workdir, configfile = micro_run
    report = tmp_path / "report.html"
    result = snakemake(workdir, configfile, "--report", str(report))
    assert result.returncode == 0, result.stderr[-4000:]
    html = report.read_text(errors="replace")
    figures = sorted(p.name for p in (workdir / "results/micro/figures").glob("*.png"))
    assert len(figures) == 3 * len(TASKS) + 5  # Figs. 2, 3, 4 per task; 6, 7, 9, 10; the ticket methods' cost
    for name in figures:
        assert name in html, name
    for caption in ("ratio margin", "SVCCA", "cross-task", "winning ticket", "permutation p-value", "phantom"):
        assert caption.lower() in html.lower(), caption
    tables = ["winning_tickets.csv", "paper_comparison.csv", "phantom.csv", "retrieval.csv", "cca.csv",
              "relative_transfer_drop.csv", "cross_task_sparsity40.csv"]
    tables += [f"{name}.csv" for name in ("sparsity_curve", "overlap_sparsity40", "overlap_bound_sparsity40",
                                          "transfer_sparsity40", "repruned_baselines_sparsity40")]
    for name in tables:
        assert name in html, name


def test_nothing_left_to_do(micro_run):
    workdir, configfile = micro_run
    result = snakemake(workdir, configfile, "-n")
    assert result.returncode == 0, result.stderr
    assert "Nothing to be done" in result.stdout + result.stderr


# ------------------------------------------------------------------------------------------ partial reruns


def test_learning_rate_edit_reruns_that_task_alone(micro_run, tmp_path):
    """NER's learning rate changes NER's rounds and trainings, and the runs of other tasks that use a NER
    ticket (cross-task); nothing else."""
    workdir, _ = micro_run

    def edit(config):
        config["tasks"]["ner"]["training"]["learning_rate"] = 5.0e-4

    result = snakemake(workdir, write_config(tmp_path / "edited.yaml", edit), "-n")
    assert result.returncode == 0, result.stderr
    jobs = planned_jobs(result.stdout)
    rules = Counter(rule for rule, _ in jobs)
    mixture_rounds = 2  # the t0-t1 chain up to its 40% ticket: rounds 0 and 20, seed 0
    assert rules["imp_round"] == len(LANGS) * len(SEEDS) * len(LEVELS) + mixture_rounds
    assert all(w["task"] == "ner" for r, w in jobs if r == "imp_round")
    trained = [w for r, w in jobs if r == "train_subnetwork"]
    assert all(w["task"] == "ner" or w["source"] == "task-ner" for w in trained), trained
    # transfer, random, repruned, 2 cross-task, mixture, the 5 methods' masks on their language and on the other
    own_task = len(LANGS) * len(TRANSFER_SEEDS) * (1 + 1 + 1 + 2 + 1 + 5 + 5)
    assert len(trained) == own_task + len(LANGS) * len(TRANSFER_SEEDS) * 2  # + NER tickets on mlm and nli
    # LT-SFT, one-shot (round 0 again) and early-bird train; FISH and Wanda do not, so they must not rerun
    assert rules["method_mask"] == len(LANGS) * len(TRANSFER_SEEDS) * 3
    assert {w["method"] for r, w in jobs if r == "method_mask"} == {"lt_sft", "oneshot", "early_bird"}
    for rule in ("toy_world", "toy_tokenizer", "pretrain_toy_model", "prepare_data", "random_mask", "mix_data"):
        assert rules[rule] == 0, (rule, jobs)
    for rule in ("imp_summary", "overlap", "transfer_matrix", "winning_tickets_table", "relative_drop_table"):
        assert rules[rule] == 1, (rule, jobs)
    assert rules["repruned_table"] == 1 and rules["cross_task_table"] == 1 and rules["multilingual_table"] == 1


def test_removed_round_reruns_it_and_its_dependents(micro_run, tmp_path):
    workdir, configfile = micro_run
    copy = tmp_path / "work"
    shutil.copytree(workdir, copy, symlinks=True)
    shutil.rmtree(copy / "results/micro/imp/mlm/t1/seed0/sparsity20")
    result = snakemake(copy, configfile, "-n")
    assert result.returncode == 0, result.stderr
    jobs = planned_jobs(result.stdout)
    rounds = sorted((w["task"], w["lang"], w["seed"], w["sparsity"]) for r, w in jobs if r == "imp_round")
    assert rounds == [("mlm", "t1", "0", "20"), ("mlm", "t1", "0", "40")]
    trained = sorted((w["task"], w["lang"], w["seed"], w["source"]) for r, w in jobs if r == "train_subnetwork")
    # the t1 MLM ticket at 40% transferred to t0, and carried over to NER and NLI on t1
    assert trained == [("mlm", "t0", "0", "t1"), ("ner", "t1", "0", "task-mlm"), ("nli", "t1", "0", "task-mlm")]
    assert not any(r in ("prepare_data", "random_mask", "pretrain_toy_model") for r, _ in jobs)


# ------------------------------------------------------------------------------------------ shipped configs


def test_paper_grid_plans_the_full_study(tmp_path):
    result = snakemake(tmp_path, REPO / "config" / "config.yaml", "-n", "--quiet", "rules")
    assert result.returncode == 0, result.stdout[-4000:]
    stats = job_stats(result.stdout)
    pairs = 11 + 9 + 10  # MLM, NER (no sw, hi), XNLI (no fa)
    assert stats["prepare_model"] == 1 and stats["prepare_data"] == pairs
    assert stats["imp_round"] == pairs * 3 * 10 + 3 * 5  # + the multilingual NER chain up to 50%
    cross = (11 * 10 + 9 * 8 + 10 * 9) * 3 * 2  # source != target, 3 seeds, at 50% and 80%
    random = pairs * 3 * 4  # random sub-networks at 30, 50, 60, 80%
    repruned = pairs * 3 * 4  # footnote 9: tickets at 10-40% pruned on to 50%
    cross_task = 3 * 3 * 2 * 3  # en, fr, zh; each task with the 2 other tasks' tickets; 3 seeds
    multilingual = 5 * 3  # the en-fa-fr-zh ticket on ar, de, es, ru, ur
    assert stats["train_subnetwork"] == cross + random + repruned + cross_task + multilingual
    assert "method_mask" not in stats  # appendix D is switched off in the paper's grid
    assert stats["probe"] == (1 + pairs * 3) + 1  # retrieval: dense and each ticket at 50%; CCA: dense


def test_demo_plans_toy_chain(tmp_path):
    result = snakemake(tmp_path, REPO / "config" / "demo.yaml", "-n", "--quiet", "rules")
    assert result.returncode == 0, result.stdout[-4000:]
    stats = job_stats(result.stdout)
    assert stats["toy_world"] == stats["toy_tokenizer"] == stats["pretrain_toy_model"] == 1
    assert "prepare_model" not in stats
    assert stats["prepare_data"] == 3 + 4 + 4  # MLM three languages, NER and NLI four (the clone, the low-resource)
    assert stats["probe"] == 1 + 11 + 2  # retrieval: dense and every ticket; CCA: dense and one NLI ticket


@pytest.mark.parametrize("name, family", [("demo_xlmr", "xlmr"), ("demo_decoder", "decoder")])
def test_family_demos_plan_their_toy_chain(tmp_path, name, family):
    """The XLM-R and decoder demos pre-train their family's toy model and run the tasks and probes they name."""
    configfile = REPO / "config" / f"{name}.yaml"
    config = yaml.safe_load(configfile.read_text())
    assert config["model"]["family"] == family and config["model"]["source"] == "toy"
    result = snakemake(tmp_path, configfile, "-n", "--quiet", "rules")
    assert result.returncode == 0, result.stdout[-4000:]
    stats = job_stats(result.stdout)
    assert stats["toy_world"] == stats["toy_tokenizer"] == stats["pretrain_toy_model"] == 1
    assert "prepare_model" not in stats and "paper_comparison" not in stats
    tasks = {task: spec for task, spec in config["tasks"].items() if spec.get("enabled", True)}
    pairs = sum(len(spec["languages"]) for spec in tasks.values())
    assert stats["prepare_data"] == pairs
    levels = config["imp"]["max_sparsity"] // config["imp"]["prune_percent"] + 1
    assert stats["imp_round"] >= pairs * len(config["seeds"]) * levels  # and the multilingual mixtures' chains
    on = config["targets"]
    probes = (1 + pairs) * on["retrieval"] + (1 + len(config["probes"]["cca"]["tickets"])) * on["cca"]
    assert stats.get("probe", 0) == probes  # retrieval: dense and every ticket; CCA: dense and its tickets


# ------------------------------------------------------------------------------------------ config errors


def _fails_before_any_job(tmp_path, edit, *expected):
    workdir = tmp_path / "work"
    workdir.mkdir()
    result = snakemake(workdir, write_config(tmp_path / "bad.yaml", edit), "-n")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Job stats:" not in output and not planned_jobs(result.stdout)
    for text in expected:
        assert text in output, output
    assert not (workdir / "results").exists() and not (workdir / "resources").exists()
    return output


@pytest.mark.parametrize(
    "edit",
    [
        lambda c: c.update(study=".."),
        lambda c: c["model"].update(name=".."),
        lambda c: (c.update(study=".."), c["model"].update(name="..")),
        lambda c: c["tasks"]["ner"].update(languages=["t0", ".."]),
    ],
    ids=["study", "model.name", "both", "language"],
)
def test_a_name_that_would_climb_out_of_the_study_changes_nothing(tmp_path, edit):
    """A real run (not a dry run) with '..' as a name stops at the config check; nothing in or beside the
    working directory changes (such a name once deleted resources/<study>, and with both the checkout)."""
    workdir = tmp_path / "work"
    (workdir / "resources" / "keep").mkdir(parents=True)
    (workdir / "resources" / "keep" / "file").write_text("kept")

    def snapshot():  # every path beside Snakemake's own folder, with each file's mtime
        return sorted((str(p.relative_to(tmp_path)), p.is_file() and p.stat().st_mtime_ns)
                      for p in tmp_path.rglob("*") if ".snakemake" not in p.parts)  # fmt: skip

    configfile = write_config(tmp_path / "bad.yaml", edit)
    before = snapshot()
    result = snakemake(workdir, configfile, "--cores", "1")
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Job stats:" not in output, output
    assert "does not match" in output or "folder name" in output, output
    assert snapshot() == before
    assert (workdir / "resources" / "keep" / "file").read_text() == "kept"


def test_a_local_model_source_that_does_not_exist_stops_the_dry_run(tmp_path):
    def edit(config):
        config["model"] = {"name": "mbert", "source": "./models/no-such-model"}

    _fails_before_any_job(tmp_path, edit, "model.source", "no such model directory")


def test_unknown_key_is_named(tmp_path):
    def edit(config):
        config["tasks"]["ner"]["training"]["learning_rte"] = 1e-3

    _fails_before_any_job(tmp_path, edit, "learning_rte", "Additional properties are not allowed")


def test_unknown_top_level_key_is_named(tmp_path):
    _fails_before_any_job(tmp_path, lambda c: c.update(sedes=[0]), "sedes")


def test_wrong_type_is_named(tmp_path):
    def edit(config):
        config["tasks"]["mlm"]["training"]["batch_size"] = "sixteen"

    _fails_before_any_job(tmp_path, edit, "batch_size", "is not of type 'integer'")


def test_language_the_toy_world_lacks(tmp_path):
    def edit(config):
        config["tasks"]["ner"]["languages"] = ["t0", "t5"]

    _fails_before_any_job(tmp_path, edit, "tasks.ner.languages", "t5")


def test_language_the_hub_dataset_lacks(tmp_path):
    def edit(config):
        config["model"] = {"name": "mbert", "source": "bert-base-multilingual-cased"}
        config["tasks"]["ner"]["data"]["source"] = "hub"
        config["tasks"]["ner"]["languages"] = ["en", "sw", "xx"]
        config["tasks"]["mlm"]["data"]["source"] = "hub"
        config["tasks"]["mlm"]["languages"] = ["en"]

    output = _fails_before_any_job(tmp_path, edit, "tasks.ner.languages", "xx")
    assert "unimelb-nlp/wikiann" in output


def test_xnli_has_no_farsi(tmp_path):
    def edit(config):
        config["tasks"]["nli"] = {
            "languages": ["en", "fa"],
            "data": {"source": "hub", "n_train": 10, "n_eval": 10},
            "training": {"max_steps": 1},
        }

    _fails_before_any_job(tmp_path, edit, "tasks.nli.languages", "'fa'")


def test_sparsity_not_reached_by_imp(tmp_path):
    def edit(config):
        config["analysis"]["transfer_sparsities"] = [60]

    _fails_before_any_job(tmp_path, edit, "analysis.transfer_sparsities", "60")


def test_unknown_task_option_is_named(tmp_path):
    def edit(config):
        config["tasks"]["mlm"]["options"] = {"mlm_probabilty": 0.2}

    _fails_before_any_job(tmp_path, edit, "tasks.mlm.options", "mlm_probabilty")


def test_multilingual_language_the_task_lacks(tmp_path):
    def edit(config):
        config["multilingual"]["ner"]["targets"] = ["t0", "t3"]

    _fails_before_any_job(tmp_path, edit, "multilingual.ner.targets", "t3")


def test_transfer_seed_outside_seeds(tmp_path):
    def edit(config):
        config["analysis"]["transfer_seeds"] = [2]

    _fails_before_any_job(tmp_path, edit, "analysis.transfer_seeds", "[2]")


def test_repruned_level_not_below_target(tmp_path):
    def edit(config):
        config["analysis"]["repruned_from"] = [20, 40]

    _fails_before_any_job(tmp_path, edit, "analysis.repruned_from", "40")


def test_mask_method_sparsity_must_be_a_trained_level(tmp_path):
    def edit(config):
        config["mask_methods"]["sparsity"] = 60

    _fails_before_any_job(tmp_path, edit, "mask_methods.sparsity", "60")


# --------------------------------------------------------------------------------------------- the mT5 path

MICRO_MT5 = REPO / "config" / "micro_mt5.yaml"


@pytest.fixture(scope="module")
def micro_mt5_run(tmp_path_factory):
    """The micro mT5 study (config/micro_mt5.yaml): XNLI as text to text on a tiny toy mT5."""
    workdir = tmp_path_factory.mktemp("micro_mt5")
    configfile = workdir / "micro_mt5.yaml"
    shutil.copy(MICRO_MT5, configfile)
    result = snakemake(workdir, configfile, "--cores", "2")
    assert result.returncode == 0, result.stderr[-6000:]
    return workdir


def test_micro_mt5_study(micro_mt5_run):
    from subnets.masks import load_mask

    results = micro_mt5_run / "results" / "micro_mt5"
    tables = results / "tables"
    assert json_of(micro_mt5_run / "resources/micro_mt5/models/toy-mt5/config.json")["model_type"] == "mt5"

    tickets = pd.read_csv(tables / "winning_tickets.csv")
    assert list(tickets["task"]) == ["nli", "nli"] and (tickets["metric_name"] == "accuracy").all()
    assert tickets[["dense_mean", "ticket_mean"]].stack().between(0, 100).all()

    # The tickets cover encoder and decoder, cross-attention included, and are at their level.
    mask, metadata = load_mask(results / "tickets/nli/t0/seed0/sparsity40.safetensors")
    assert metadata["sparsity"] == pytest.approx(0.4, abs=1e-3)
    assert json_of(results / "imp/nli/t0/seed0/sparsity20/metrics.json")["family"] == "t5"
    assert any(".EncDecAttention.q." in name for name in mask)
    assert {name.split(".")[0] for name in mask} == {"encoder", "decoder"}

    overlap = pd.read_csv(tables / "nli/overlap_sparsity40_by_layer.csv", index_col=0)
    assert list(overlap.columns) == ["encoder.0", "encoder.1", "decoder.0", "decoder.1", "all"]
    assert overlap.stack().between(0, 1).all()

    matrix = pd.read_csv(tables / "nli/transfer_sparsity40.csv", index_col=0)
    assert list(matrix.index) == ["dense", *LANGS, "random"] and list(matrix.columns) == list(LANGS)
    assert matrix.stack().between(0, 100).all()

    methods = pd.read_csv(tables / "nli/mask_methods_sparsity40.csv", index_col=0)
    assert list(methods.columns) == ["dense", "imp", "lt_sft", "fish"] and methods.notna().all().all()
    assert pd.read_csv(tables / "paper_comparison.csv").empty  # Table 6's languages are not the toy world's
    for name in ("fig2_sparsity_nli", "fig3_overlap_nli", "fig4_transfer_nli_sparsity40"):
        assert (results / "figures" / f"{name}.png").stat().st_size > 1000


def json_of(path: Path) -> dict:
    import json

    return json.loads(path.read_text())


def _fails_mt5(tmp_path, edit, *expected):
    workdir = tmp_path / "work"
    workdir.mkdir()
    config = yaml.safe_load(MICRO_MT5.read_text())
    edit(config)
    configfile = tmp_path / "bad.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    result = snakemake(workdir, configfile, "-n")
    output = result.stdout + result.stderr
    assert result.returncode != 0 and not planned_jobs(result.stdout), output
    for text in expected:
        assert text in output, output


def test_mt5_study_has_no_ner(tmp_path):
    def edit(config):
        config["tasks"]["ner"] = {**config["tasks"]["nli"]}

    _fails_mt5(tmp_path, edit, "tasks.ner", "unknown task 'ner' for model family 't5'")


def test_mt5_study_has_no_probes(tmp_path):
    _fails_mt5(tmp_path, lambda c: c["targets"].update(retrieval=True), "targets.retrieval", "model.family t5")


def test_toy_model_keys_follow_the_family(tmp_path):
    _fails_mt5(tmp_path, lambda c: c["toy"]["model"].update(hidden_size=64), "toy.model", "hidden_size")
