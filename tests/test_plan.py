"""subnets plan: the jobs it lists are the workflow's (against `snakemake -n`), and its cost arithmetic."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from subnets import plan as P
from subnets.cli import main

ROOT = Path(__file__).resolve().parents[1]


def snakemake_job_stats(configfile: str, workdir: Path) -> dict[str, int]:
    out = subprocess.run(
        ["snakemake", "-n", "--quiet", "rules", "--configfile", str(ROOT / configfile), "-d", str(workdir),
         "-s", str(ROOT / "Snakefile")],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    stats = out.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", stats, re.M)}


@pytest.mark.workflow
@pytest.mark.skipif(shutil.which("snakemake") is None, reason="needs snakemake")
@pytest.mark.parametrize("configfile", ["config/micro.yaml", "config/demo.yaml", "config/config.yaml"])
def test_job_counts_per_rule_are_snakemakes(configfile, tmp_path):
    expected = snakemake_job_stats(configfile, tmp_path)
    _, study = P.load_study(ROOT / configfile)
    jobs = P.plan_jobs(study)
    planned = P.job_counts(jobs, split_levels=True)
    assert planned == {rule: expected.get(rule, 0) for rule in planned}
    # Every job of a rule the planner knows is listed, the IMP levels summed.
    known = {r for r in expected if r.startswith("imp_round_")} | set(P.job_counts(jobs)) - {"imp_round"}
    assert {r: n for r, n in expected.items() if r in known} == planned
    assert P.job_counts(jobs)["imp_round"] == sum(n for r, n in expected.items() if r.startswith("imp_round_"))


def test_known_sizes_match_the_hub_models():
    bert = P.bert_size("mbert", P.KNOWN_MODELS["bert-base-multilingual-cased"] | {}, ["mlm", "ner"], "")
    assert bert.total == 177_853_440  # BertModel of bert-base-multilingual-cased
    assert bert.per_token["ner"] < bert.per_token["mlm"]  # MLM also projects every token onto the vocabulary
    t5 = P.t5_size("mt5", {k: v for k, v in P.KNOWN_MODELS["google/mt5-base"].items() if k != "family"},
                   ["nli"], {"nli": 128}, "")  # fmt: skip
    assert abs(t5.total - 582_401_280) / 582_401_280 < 1e-4  # MT5ForConditionalGeneration


def test_steps_evaluations_and_flops_of_a_run():
    training = {"batch_size": 32, "num_epochs": 3, "eval_every": 625}
    assert P.training_steps(training, 20000) == 1875  # Table 7: 625 iterations per epoch
    assert P.training_steps({**training, "max_steps": 7}, 20000) == 7
    cost = P.run_cost({"batch_size": 4, "max_steps": 10, "eval_every": 4}, 100, 8, 16, params=1000)
    assert cost.train_tokens == 10 * 4 * 16 and cost.eval_tokens == 3 * 8 * 16  # at 4, 8 and the end
    assert cost.flops == 6 * 1000 * 640 + 2 * 1000 * 384
    per_token = P.Throughput(tokens_per_second=100.0)
    assert per_token.seconds(cost) == pytest.approx((640 + 384 / 3) / 100)
    h100 = P.Throughput.of("h100", 0.5, None)
    assert h100.seconds(cost) == pytest.approx(cost.flops / (989e12 * 0.5))


def test_cli_prints_the_table_writes_the_csv_and_sets_results_against_it(tmp_path, capsys):
    _, study = P.load_study(ROOT / "config/demo.yaml")
    job = next(j for j in P.plan_jobs(study) if j.rule == "imp_round")
    metrics = tmp_path / "results" / P.result_path(job)
    metrics.parent.mkdir(parents=True)
    metrics.write_text(json.dumps({"seconds": 12.5, "total_steps": 30}))
    csv = tmp_path / "plan.csv"
    assert main(["plan", "--configfile", str(ROOT / "config/demo.yaml"), "--tokens-per-second", "1000",
                 "--csv", str(csv), "--results", str(tmp_path / "results")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    level_0 = sum(j.snakemake_rule == "imp_round_00" for j in P.plan_jobs(study))
    assert level_0 >= 2 * 11 and f"imp_round_00 {level_0}" in out and "train_subnetwork" in out  # 11 chains, 2 seeds
    assert re.search(r"\| imp_round\s+\|\s+1 \|.*\|\s+12\.5 \|", out)
    rows = csv.read_text().splitlines()
    assert rows[0].startswith("rule,snakemake_rule") and len(rows) == 1 + len(P.plan_jobs(study))


def test_an_unknown_gpu_or_model_is_named(tmp_path):
    with pytest.raises(SystemExit, match="unknown --gpu 'tpu'"):
        P.Throughput.of("tpu", 0.4, None)
    config, study = P.load_study(ROOT / "config/config.yaml")
    config["model"]["source"] = "someone/unknown-model"
    other = P.Study.from_config(config)
    with pytest.raises(ValueError, match="--parameters"):
        P.model_size(config, other)


def test_the_console_script_runs_without_torch():
    code = ("import sys; from subnets.cli import main; main(['plan', '--configfile', 'config/mt5.yaml']); "
            "assert 'torch' not in sys.modules, 'torch imported'")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "google/mt5-base" in out.stdout
