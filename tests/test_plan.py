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
    t5 = P.t5_size("mt5", P.KNOWN_MODELS["google/mt5-base"], ["nli"], {"nli": 128}, "")
    assert t5.total == 582_401_280  # MT5ForConditionalGeneration


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


def _count(model_type: str, auto: str, cfg: dict, **labels) -> int:
    """Parameters of the ``transformers`` model ``auto`` of ``cfg``, built on the meta device (no memory)."""
    import torch
    import transformers

    keys = {k: v for k, v in cfg.items() if k not in ("model_type", "gated")}
    config = transformers.AutoConfig.for_model(model_type, **keys, **labels)
    with torch.device("meta"):
        model = getattr(transformers, auto).from_config(config)
    return sum(p.numel() for p in model.parameters())  # tied weights once


TASK_CLASSES = {"mlm": "AutoModelForMaskedLM", "ner": "AutoModelForTokenClassification",
                "nli": "AutoModelForSequenceClassification"}  # fmt: skip
TINY = {
    "bert": dict(model_type="bert", vocab_size=97, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=24, max_position_embeddings=40, type_vocab_size=2),
    "xlmr": dict(model_type="xlm-roberta", vocab_size=97, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=24, max_position_embeddings=42, type_vocab_size=1),
    "llama": dict(model_type="llama", vocab_size=97, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, intermediate_size=24, tie_word_embeddings=True),
    "llama-untied": dict(model_type="llama", vocab_size=97, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=4, intermediate_size=24, tie_word_embeddings=False),
    "qwen2": dict(model_type="qwen2", vocab_size=97, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=1, intermediate_size=24, tie_word_embeddings=True),
    "mistral": dict(model_type="mistral", vocab_size=97, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, intermediate_size=24),
    "bloom": dict(model_type="bloom", vocab_size=97, hidden_size=16, n_layer=2, n_head=2),
    "mt5": dict(model_type="mt5", vocab_size=97, d_model=16, d_kv=4, num_heads=4, d_ff=24, num_layers=2,
                num_decoder_layers=3, feed_forward_proj="gated-gelu", tie_word_embeddings=False),
}  # fmt: skip


def _check_against_transformers(cfg: dict) -> None:
    model_type = cfg["model_type"]
    tasks = ["nli"] if model_type == "mt5" else ["mlm", "ner", "nli"]
    size = P.sized("m", cfg, tasks, {t: 64 for t in tasks}, "")
    if model_type == "mt5":  # transformers 5 ties mT5's lm_head to its embedding whatever the config says; mT5's
        # checkpoints (and the planner) keep them apart: one vocabulary projection more
        untied = 0 if cfg.get("tie_word_embeddings", False) else cfg["vocab_size"] * cfg["d_model"]
        assert size.total == _count(model_type, "AutoModelForSeq2SeqLM", cfg) + untied
        return
    assert size.total == _count(model_type, "AutoModel", cfg)
    decoder = size.family == "decoder"
    for task in tasks:
        auto = "AutoModelForCausalLM" if decoder and task == "mlm" else TASK_CLASSES[task]
        labels = {"num_labels": 7 if task == "ner" else 3}
        assert size.task_params[task] == _count(model_type, auto, cfg, **labels), (model_type, task)


@pytest.mark.parametrize("name", sorted(TINY))
def test_parameter_counts_of_every_family_are_transformers(name):
    _check_against_transformers(TINY[name])


@pytest.mark.parametrize("source", sorted(P.KNOWN_MODELS))
def test_known_hub_sizes_are_transformers(source):
    _check_against_transformers(P.KNOWN_MODELS[source])


@pytest.mark.parametrize("configfile", ["config/demo.yaml", "config/demo_xlmr.yaml", "config/demo_decoder.yaml",
                                        "config/demo_mt5.yaml"])  # fmt: skip
def test_the_toy_model_of_each_family_is_sized_exactly(configfile):
    """The planner's toy architecture is the one subnets.toy builds (given the trained tokenizer's size)."""
    import torch
    import transformers

    config, study = P.load_study(ROOT / configfile)
    size = P.model_size(config, study)
    vocab = config["toy"].get("tokenizer", {}).get("vocab_size", 1500)
    if study.family == "t5":
        from subnets.toy.pretrain_t5 import ToyT5Config

        toy = ToyT5Config.from_dict(config["toy"].get("model", {}))
        cfg = transformers.MT5Config(vocab_size=vocab, d_model=toy.d_model, d_kv=toy.d_model // toy.num_heads,
                                     d_ff=toy.d_ff, num_layers=toy.num_layers, num_heads=toy.num_heads,
                                     num_decoder_layers=toy.num_decoder_layers, feed_forward_proj="gated-gelu",
                                     tie_word_embeddings=False)  # as subnets.toy.pretrain_t5 asks for it
        # transformers 5 ties it anyway, and so does the planner for the toy mT5: the count is exact
        auto, untied = transformers.AutoModelForSeq2SeqLM, 0
    else:
        from subnets.toy.pretrain import model_config, toy_model_config_class

        toy = toy_model_config_class(study.family).from_dict(config["toy"].get("model", {}))
        tokenizer = type("Tokenizer", (), {"pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
                                           "__len__": lambda self: vocab})()  # the toy XLM-R's <pad> is 1
        cfg = model_config(study.family, toy, tokenizer)
        auto, untied = transformers.AutoModel, 0
    with torch.device("meta"):
        model = auto.from_config(cfg)
    assert size.total == sum(p.numel() for p in model.parameters()) + untied
