"""What a study costs before it runs: every job the config implies, its FLOPs, and GPU-hours per rule and task.

``subnets plan --configfile config/config.yaml --gpu h100 --share 0.4`` reads the config through the same path as
the workflow (``snakemake.utils.validate`` against workflow/schemas/config.schema.yaml, then
:meth:`subnets.study.Study.from_config`) and enumerates the jobs the way workflow/rules/targets.smk and
workflow/rules/common.smk do: the targets of ``rule all`` from the ``targets`` switches, the inputs of the tables
they need, and the chain behind each ticket (the ticket at s is written by the round at s - p). Nothing runs and
nothing is imported beyond the config check (no torch). tests/test_plan.py holds the job counts per rule equal to
``snakemake -n``'s.

The estimate (see :func:`job_cost`):

* tokens per example = the task's ``data.max_length``: every example is counted at full length. MLM blocks are
  full; NER and NLI sentences are shorter and are padded only to the longest in their batch, so for them the
  estimate is an upper bound.
* training steps = ``max_steps``, else ``ceil(num_epochs * ceil(n_train / batch_size))`` (as the trainer counts);
  evaluations = one every ``eval_every`` steps and one at the end, each over ``n_eval`` examples.
* FLOPs = 6 x N x training tokens + 2 x N x evaluation tokens, where N is the number of parameters that act on
  every token: the encoder's weights without the embedding tables (a lookup), plus the output projection over
  the vocabulary for MLM; for T5 the decoder and its output layer act on the target tokens only. ``--parameters``
  replaces N.
* seconds = FLOPs / (bf16 dense peak x achievable share) of the chosen GPU (:data:`GPUS`), or, with
  ``--tokens-per-second``, (training tokens + evaluation tokens / 3) / that rate.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from subnets.study import Study
from subnets.study import names as N

SCHEMA = "workflow/schemas/config.schema.yaml"

# Dense (no structured sparsity) tensor-core peaks, in TFLOPS, for the precision the trainer uses on CUDA (bf16
# autocast); GPUs without bf16 list their fp16 tensor peak. Each from the vendor's datasheet.
GPUS: dict[str, tuple[float, str]] = {
    "h200": (989.0, "H200 SXM, bf16 dense (NVIDIA H200 datasheet: 1,979 TFLOPS with sparsity)"),
    "h100": (989.0, "H100 SXM, bf16 dense (NVIDIA H100 datasheet: 1,979 TFLOPS with sparsity)"),
    "h100-pcie": (756.0, "H100 PCIe, bf16 dense (NVIDIA H100 datasheet: 1,513 TFLOPS with sparsity)"),
    "a100": (312.0, "A100 SXM/PCIe, bf16 dense (NVIDIA A100 datasheet: 624 TFLOPS with sparsity)"),
    "l40s": (362.0, "L40S, bf16 dense (NVIDIA L40S datasheet: 733 TFLOPS with sparsity)"),
    "a10": (125.0, "A10, bf16 dense (NVIDIA A10 datasheet: 250 TFLOPS with sparsity)"),
    "v100": (125.0, "V100 SXM2, fp16 tensor (NVIDIA V100 datasheet; no bf16)"),
    "rtx8000": (130.5, "Quadro RTX 8000, the paper's GPU: fp16 tensor (NVIDIA Quadro RTX 8000 datasheet; no bf16)"),
    "rtx8000-fp32": (16.3, "Quadro RTX 8000 in fp32 (NVIDIA Quadro RTX 8000 datasheet)"),
}
DEFAULT_SHARE = 0.4

# Architectures of hub models that the planner cannot download (config.json values of the hub snapshots).
KNOWN_MODELS: dict[str, dict[str, Any]] = {
    "bert-base-multilingual-cased": dict(model_type="bert", vocab_size=119547, hidden_size=768, num_hidden_layers=12,
                                         intermediate_size=3072, max_position_embeddings=512, type_vocab_size=2),
    "google/mt5-base": dict(model_type="mt5", vocab_size=250112, d_model=768, d_kv=64, num_heads=12, d_ff=2048,
                            num_layers=12, num_decoder_layers=12, gated=True),
    "google/mt5-small": dict(model_type="mt5", vocab_size=250112, d_model=512, d_kv=64, num_heads=6, d_ff=1024,
                             num_layers=8, num_decoder_layers=8, gated=True),
    "FacebookAI/xlm-roberta-base": dict(model_type="xlm-roberta", vocab_size=250002, hidden_size=768,
                                        num_hidden_layers=12, intermediate_size=3072, max_position_embeddings=514,
                                        type_vocab_size=1),
    "Qwen/Qwen2.5-0.5B": dict(model_type="qwen2", vocab_size=151936, hidden_size=896, num_hidden_layers=24,
                              num_attention_heads=14, num_key_value_heads=2, intermediate_size=4864,
                              tie_word_embeddings=True),
    "bigscience/bloom-560m": dict(model_type="bloom", vocab_size=250880, hidden_size=1024, n_layer=24, n_head=16),
}  # fmt: skip

# Appendix H: per language, on one Quadro RTX 8000 (GPU-hours). "pruning" is the IMP chain, "fine-tuning" one run.
PAPER_HOURS = {"mlm": {"pruning": 15.0, "fine-tuning": 6.0}, "ner": {"pruning": 4.5, "fine-tuning": 0.5},
               "nli": {"pruning": 45.0, "fine-tuning": 15.0}}  # fmt: skip

TRAINING_RULES = ("imp_round", "train_subnetwork", "method_mask", "pretrain_toy_model")
NLI_TARGET_TOKENS = 3  # a label word and </s> (text to text)


# ------------------------------------------------------------------------------------------------ the config


def load_study(configfile: str | os.PathLike, schema: str | os.PathLike | None = None) -> tuple[dict, Study]:
    """The config as the workflow sees it: schema-validated (defaults filled in), then the typed study."""
    import yaml
    from snakemake.utils import validate

    with open(configfile) as handle:
        config = yaml.safe_load(handle)
    schema = schema or Path(__file__).resolve().parents[2] / SCHEMA
    if not Path(schema).exists():
        schema = Path.cwd() / SCHEMA
    validate(config, str(schema))
    return config, Study.from_config(config)


# ------------------------------------------------------------------------------------------------ the jobs


@dataclass(frozen=True, order=True)
class Job:
    """One job of the DAG: its rule (the IMP levels as ``imp_round``, the level in ``sparsity``) and wildcards."""

    rule: str
    task: str = ""
    lang: str = ""
    seed: int = -1
    source: str = ""
    sparsity: int = -1
    extra: str = ""  # the method of method_mask, the kind and sub-network of probe

    @property
    def snakemake_rule(self) -> str:
        return f"imp_round_{N.sparsity_label(self.sparsity)}" if self.rule == "imp_round" else self.rule


def plan_jobs(study: Study) -> list[Job]:
    """Every job ``snakemake`` would run for the study from scratch, as targets.smk and common.smk ask for them."""
    on, tasks, p = study.targets, list(study.tasks), study.prune_percent
    rounds: set[tuple] = set()  # (task, lang, seed, level)
    trains: set[tuple] = set()  # (task, lang, seed, source, sparsity)
    probes: set[tuple] = set()  # (kind, subnetwork)
    tickets: set[tuple] = set()  # (task, lang, seed, sparsity) wanted as files
    method_masks: set[tuple] = set()  # (method, task, lang, seed, sparsity)

    def add_rounds(task, langs, seeds, levels):
        rounds.update((task, lang, seed, s) for lang in langs for seed in seeds for s in levels)

    def add_runs(task, sources, targets, seeds, s):
        trains.update((task, t, seed, src, s) for src in sources for t in targets if src != t for seed in seeds)

    def imp_summary(task):
        add_rounds(task, study.languages(task), study.seeds, study.sparsities)
        for level in study.random_sparsities:
            trains.update((task, l, seed, N.RANDOM, level) for l in study.languages(task) for seed in study.transfer_seeds)

    if on["imp"] or on["overlap"] or on["transfer"]:
        for task in tasks:
            add_rounds(task, study.languages(task), study.seeds, study.sparsities)
    if on["imp"] or on["paper"]:  # paper_comparison reads the winning-tickets table
        for task in tasks:
            imp_summary(task)
    if on["transfer"]:
        for task in tasks:
            langs = study.languages(task)
            for s in study.transfer_sparsities:
                add_rounds(task, langs, study.seeds, [0, s])
                add_runs(task, langs, langs, study.transfer_seeds, s)
                add_runs(task, [N.RANDOM], langs, study.transfer_seeds, s)
    if on["overlap"]:
        for task in tasks:
            tickets.update((task, l, seed, study.overlap_sparsity) for l in study.languages(task) for seed in study.seeds)
    if on["repruned"]:
        s, seeds = study.repruned_sparsity, study.transfer_seeds
        for task in tasks:
            langs = study.languages(task)
            add_rounds(task, langs, seeds, [s])
            add_runs(task, langs, langs, seeds, s)
            trains.update((task, l, seed, src, s) for l in langs for seed in seeds for src in study.repruned_sources)
    if on["cross_task"]:
        s = study.cross_task_sparsity
        for task in tasks:
            others = [f"{N.CROSS_TASK_PREFIX}{other}" for other in tasks if other != task]
            for lang in study.cross_task_languages:
                for seed in study.transfer_seeds:
                    rounds.add((task, lang, seed, s))
                    trains.update((task, lang, seed, src, s) for src in others)
    if on["mask_methods"]:  # appendix D's table and the ticket_methods comparison, as subnets.study lists them
        wanted = dict(round=rounds, ticket=tickets, train=trains, mask=method_masks)
        for task in study.method_tasks:
            inputs = {**study.mask_methods_inputs(task), **study.ticket_methods_inputs(task)}
            for kind, *args in (entry for entries in inputs.values() for entry in entries):
                wanted[kind].add(tuple(args))
    if on["retrieval"]:
        s = study.probes["sparsity"]
        probes.add(("retrieval", N.DENSE))
        probes.update(("retrieval", N.ticket_name(t, l, seed, s))
                      for t in tasks for l in study.languages(t) for seed in study.transfer_seeds)  # fmt: skip
    if on["cca"]:
        seed, s = study.transfer_seeds[0], study.probes["sparsity"]
        probes.add(("cca", N.DENSE))
        probes.update(("cca", N.ticket_name(t, l, seed, s)) for t, l in study.probes["cca"]["tickets"])
    if on["multilingual"]:
        for task, spec in study.multilingual.items():
            seeds = study.transfer_seeds
            add_rounds(task, [spec.mixture], seeds, range(0, spec.sparsity, p))
            add_rounds(task, spec.targets, seeds, [0, spec.sparsity])
            add_runs(task, [*spec.languages, spec.mixture], spec.targets, seeds, spec.sparsity)

    # What the wanted files need: masks (tickets, random and method masks), data, the model.
    random_masks = set()
    for task, lang, seed, src, s in trains:
        source = study.source(task, src)
        if source.kind == "random":
            random_masks.add((task, seed, s))
        elif source.kind == "method":
            method_masks.add((source.method, task, source.language or lang, seed, s))
        elif source.kind == "repruned":
            tickets.add((task, lang, seed, source.start))
        elif source.kind == "cross_task":
            tickets.add((source.task, lang, seed, s))
        else:
            tickets.add((task, source.language, seed, s))
    for kind, subnetwork in probes:
        if subnetwork != N.DENSE:
            tickets.add(N.parse_ticket_name(subnetwork))
    for task, lang, seed, s in tickets:  # the ticket at s is the output of the round at s - p
        rounds.add((task, lang, seed, s - p))
    for task, lang, seed, s in list(rounds):  # a round at s > 0 reads the ticket at s: every lower round runs
        rounds.update((task, lang, seed, level) for level in range(0, s, p))

    data = {(t, l) for t, l, *_ in rounds} | {(t, l) for t, l, *_ in trains} | {(t, l) for _, t, l, *_ in method_masks}
    mixtures = {(t, l) for t, l in data if study.is_mixture(t, l)}
    data = (data - mixtures) | {(t, l) for t, m in mixtures for l in study.multilingual[t].languages}

    jobs = [Job("imp_round", t, l, seed, sparsity=s) for t, l, seed, s in rounds]
    jobs += [Job("train_subnetwork", t, l, seed, src, s) for t, l, seed, src, s in trains]
    jobs += [Job("random_mask", t, seed=seed, sparsity=s) for t, seed, s in random_masks]
    jobs += [Job("method_mask", t, l, seed, sparsity=s, extra=m) for m, t, l, seed, s in method_masks]
    jobs += [Job("probe", extra=f"{kind}:{sub}") for kind, sub in probes]
    jobs += [Job("prepare_data", t, l) for t, l in data]
    jobs += [Job("mix_data", t, m) for t, m in mixtures]
    toy_data = any(study.tasks[t].data["source"] == "toy" for t, _ in data)
    toy_probes = any(study.probes[kind]["source"] == "toy" for kind, _ in probes)
    if study.use_toy_model:
        jobs += [Job("pretrain_toy_model"), Job("toy_tokenizer")]
    else:
        jobs.append(Job("prepare_model"))
    if study.use_toy_model or toy_data or toy_probes:
        jobs.append(Job("toy_world"))
    return sorted(jobs)


def job_counts(jobs: Iterable[Job], split_levels: bool = False) -> dict[str, int]:
    """Jobs per rule; ``split_levels`` names the IMP rules per level as Snakemake does (imp_round_00, ...)."""
    counts: dict[str, int] = {}
    for job in jobs:
        rule = job.snakemake_rule if split_levels else job.rule
        counts[rule] = counts.get(rule, 0) + 1
    return counts


# ----------------------------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class ModelSize:
    """Parameter counts of theta0: ``total`` (the family's body: ``AutoModel``, for T5 its text-to-text model),
    ``task_params`` (each task's whole model, heads included, as ``model.parameters()`` counts it: tied weights
    once), and those acting on every token, per task (see the module doc)."""

    name: str
    family: str
    total: int
    per_token: dict[str, float]  # task -> parameters x (tokens they act on / input tokens)
    where: str
    task_params: dict[str, int] = field(default_factory=dict)


NER_LABELS = 7  # WikiAnn's O and B-/I- of PER, ORG, LOC (subnets.tasks.ner.NER_LABELS)
NLI_LABELS = 3


def bert_size(name: str, cfg: Mapping[str, Any], tasks: Iterable[str], where: str, family: str = "bert") -> ModelSize:
    """BERT and XLM-R / RoBERTa (``family="xlmr"``: no pooler in its task models, a two-layer NLI head), from
    their config.json keys. Exact against ``transformers`` (tests/test_plan.py)."""
    h, v, i, layers = cfg["hidden_size"], cfg["vocab_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    lookups = (v + cfg["max_position_embeddings"] + cfg.get("type_vocab_size", 2)) * h
    embeddings = lookups + 2 * h  # and their LayerNorm
    layer = 4 * (h * h + h) + 2 * h + (h * i + i) + (i * h + h) + 2 * h
    encoder, pooler = layers * layer, h * h + h
    transform = h * h + h + 2 * h  # the MLM head's dense layer and LayerNorm; its decoder is the tied embedding
    if family == "xlmr":  # RobertaClassificationHead: dense and out_proj on <s>
        nli_head = h * h + h + h * NLI_LABELS + NLI_LABELS
    else:
        nli_head = pooler + h * NLI_LABELS + NLI_LABELS
    heads = {"mlm": transform + v, "ner": h * NER_LABELS + NER_LABELS, "nli": nli_head}
    compute = {**heads, "mlm": heads["mlm"] + h * v}  # the tied output projection acts on every token
    task_params = {t: embeddings + encoder + heads[t] for t in tasks if t in heads}
    per_token = {t: encoder + compute.get(t, 0) for t in tasks}
    per_token["pretrain"], per_token["encoder"] = encoder + compute["mlm"], encoder
    return ModelSize(name, family, embeddings + encoder + pooler, per_token, where, task_params)


def decoder_size(name: str, cfg: Mapping[str, Any], tasks: Iterable[str], where: str) -> ModelSize:
    """Decoder-only models from their config.json keys: Llama, Mistral, Qwen2 (biases on q, k, v), Gemma (its
    ``head_dim``) with grouped-query attention and a gated MLP, or BLOOM (``model_type: bloom``: fused
    query_key_value, biases, LayerNorms, a 4h MLP). Exact against ``transformers`` (tests/test_plan.py)."""
    h, v = cfg.get("hidden_size", cfg.get("n_embed")), cfg["vocab_size"]
    if cfg.get("model_type") == "bloom":
        layers = cfg.get("n_layer", cfg.get("num_hidden_layers"))
        embeddings = v * h + 2 * h  # and word_embeddings_layernorm
        layer = 2 * h + (3 * h * h + 3 * h) + (h * h + h) + 2 * h + (4 * h * h + 4 * h) + (4 * h * h + h)
        final_norm = 2 * h
    else:
        heads = cfg["num_attention_heads"]
        kv, dim = cfg.get("num_key_value_heads") or heads, cfg.get("head_dim") or h // heads
        model_type = cfg.get("model_type", "llama")
        qkv_bias = model_type == "qwen2" or cfg.get("attention_bias", False)
        o_bias = model_type != "qwen2" and cfg.get("attention_bias", False)
        i = cfg["intermediate_size"]
        attention = 2 * h * heads * dim + 2 * h * kv * dim + (heads * dim + 2 * kv * dim if qkv_bias else 0)
        attention += h if o_bias else 0
        mlp = 3 * h * i + (2 * i + h if cfg.get("mlp_bias", False) else 0)  # gate, up and down
        layer = attention + mlp + 2 * h  # and two RMSNorms
        layers, embeddings, final_norm = cfg["num_hidden_layers"], v * h, h
    body = layers * layer + final_norm
    tied = cfg.get("tie_word_embeddings", cfg.get("model_type") == "bloom")
    # The LM head (tied or not, it acts on every token), the token classifier, the sequence classifier (no bias).
    task_heads = {"mlm": 0 if tied else h * v, "ner": h * NER_LABELS + NER_LABELS, "nli": h * NLI_LABELS}
    compute = {**task_heads, "mlm": h * v}
    task_params = {t: embeddings + body + task_heads[t] for t in tasks if t in task_heads}
    per_token = {t: body + compute.get(t, 0) for t in tasks}
    per_token["pretrain"], per_token["encoder"] = body + compute["mlm"], body
    return ModelSize(name, "decoder", embeddings + body, per_token, where, task_params)


def t5_size(name: str, cfg: Mapping[str, Any], tasks: Iterable[str], input_length: Mapping[str, int],
            where: str) -> ModelSize:  # fmt: skip
    d, v, ff = cfg["d_model"], cfg["vocab_size"], cfg["d_ff"]
    inner = cfg.get("d_kv", d // cfg["num_heads"]) * cfg["num_heads"]
    attention, mlp = 4 * d * inner, (3 if cfg.get("gated", True) else 2) * d * ff
    relative = cfg.get("relative_attention_num_buckets", 32) * cfg["num_heads"]  # a lookup, in each stack's first layer
    encoder = cfg["num_layers"] * (attention + mlp + 2 * d) + d
    decoder = cfg.get("num_decoder_layers", cfg["num_layers"]) * (2 * attention + mlp + 3 * d) + d
    head = d * v  # untied in mT5
    per_token = {}
    for task in tasks:
        length = input_length[task]
        target = NLI_TARGET_TOKENS if task == "nli" else max(1, round(0.2 * length))  # MLM: spans and sentinels
        per_token[task] = encoder + (decoder + head) * target / length
    per_token["pretrain"] = encoder + (decoder + head) * 0.2  # span corruption: about a fifth as many targets
    per_token["encoder"] = encoder
    tied = cfg.get("tie_word_embeddings", False)
    total = (1 if tied else 2) * v * d + encoder + decoder + 2 * relative
    return ModelSize(name, "t5", total, per_token, where, {t: total for t in tasks})


def model_size(config: Mapping[str, Any], study: Study, model_dir: str | None = None) -> ModelSize:
    """theta0's size: a local config.json (``model_dir``, or the model source when it is a directory), the toy
    model's config keys, or :data:`KNOWN_MODELS` for a hub id."""
    tasks = list(study.tasks)
    lengths = {t: study.tasks[t].data.get("max_length", 128) for t in tasks}
    source = study.model_source
    candidates = [model_dir] if model_dir else []
    if source != "toy":
        candidates.append(source)
    for path in candidates:
        if path and (Path(path) / "config.json").is_file():
            cfg = json.loads((Path(path) / "config.json").read_text())
            return sized(study.model_name, cfg, tasks, lengths, f"{path}/config.json")
    if source == "toy":
        cfg = toy_architecture(config, study.family)
        return sized(study.model_name, cfg, tasks, lengths, "toy.model (vocab from toy.tokenizer.vocab_size)")
    if source in KNOWN_MODELS:
        where = f"known size of {source} (subnets.plan.KNOWN_MODELS)"
        return sized(study.model_name, KNOWN_MODELS[source], tasks, lengths, where)
    raise ValueError(f"the size of {source!r} is unknown: pass --parameters N or --model-dir DIR (with config.json)")


def sized(name: str, cfg: Mapping[str, Any], tasks: list[str], lengths: Mapping[str, int], where: str) -> ModelSize:
    """The size of a model of config.json keys ``cfg``, by its ``model_type``."""
    cfg, model_type = dict(cfg), cfg.get("model_type", "bert")
    if model_type in ("t5", "mt5"):
        cfg.setdefault("gated", "gated" in cfg.get("feed_forward_proj", "relu"))
        return t5_size(name, cfg, tasks, lengths, where)
    if model_type in ("llama", "qwen2", "mistral", "gemma", "bloom"):
        return decoder_size(name, cfg, tasks, where)
    if model_type in ("bert", "xlm-roberta", "roberta"):
        return bert_size(name, cfg, tasks, where, family="bert" if model_type == "bert" else "xlmr")
    raise ValueError(f"{where}: no parameter count for model_type {model_type!r}; pass --parameters N")


def toy_architecture(config: Mapping[str, Any], family: str) -> dict[str, Any]:
    """The config.json keys of ``family``'s toy model as subnets.toy.pretrain.model_config (and pretrain_t5) build
    it from ``toy.model``; the vocabulary is ``toy.tokenizer.vocab_size`` (the trained tokenizer can hold a few
    tokens more: the decoder's prompt words)."""
    from subnets.toy.pretrain import toy_model_config_class

    vocab = config["toy"].get("tokenizer", {}).get("vocab_size", 1500)
    toy = toy_model_config_class(family).from_dict(dict(config["toy"].get("model", {})))
    if family == "t5":  # transformers 5 builds a new mT5 with its output layer tied to the embedding
        return dict(model_type="t5", vocab_size=vocab, d_model=toy.d_model, num_heads=toy.num_heads,
                    d_kv=toy.d_model // toy.num_heads, d_ff=toy.d_ff, num_layers=toy.num_layers,
                    num_decoder_layers=toy.num_decoder_layers, gated=True, tie_word_embeddings=True)  # fmt: skip
    positions = max(128, toy.max_length)
    shape = dict(vocab_size=vocab, hidden_size=toy.hidden_size, num_hidden_layers=toy.num_layers,
                 num_attention_heads=toy.num_heads, intermediate_size=toy.intermediate_size)  # fmt: skip
    if family == "xlmr":  # positions from pad_token_id + 1, the toy XLM-R's <pad> is 1
        return dict(model_type="xlm-roberta", max_position_embeddings=positions + 2, type_vocab_size=1, **shape)
    if family == "decoder":
        return dict(model_type="llama", num_key_value_heads=toy.num_heads, tie_word_embeddings=True, **shape)
    return dict(model_type="bert", max_position_embeddings=positions, type_vocab_size=2, **shape)


# ---------------------------------------------------------------------------------------------- the costs


@dataclass
class Cost:
    train_tokens: float = 0.0
    eval_tokens: float = 0.0  # forward passes only
    flops: float = 0.0
    steps: int = 0
    params: float = 0.0  # parameters per token used

    def __iadd__(self, other: "Cost") -> "Cost":
        self.train_tokens += other.train_tokens
        self.eval_tokens += other.eval_tokens
        self.flops += other.flops
        self.steps += other.steps
        return self


def training_steps(training: Mapping[str, Any], n_train: int) -> int:
    """As the trainer counts: max_steps, else ceil(num_epochs * batches per epoch)."""
    if training.get("max_steps"):
        return int(training["max_steps"])
    batches = math.ceil(n_train / training.get("batch_size", 32))
    return math.ceil(training.get("num_epochs", 3.0) * batches)


def run_cost(training: Mapping[str, Any], n_train: int, n_eval: int, length: int, params: float) -> Cost:
    """One training run: steps x batch x length tokens (6 N each), evaluations over n_eval examples (2 N)."""
    steps = training_steps(training, n_train)
    every = training.get("eval_every", 500)
    evaluations = steps // every + (1 if steps % every else 0)
    train_tokens = steps * training.get("batch_size", 32) * length
    eval_tokens = evaluations * n_eval * length
    return Cost(train_tokens, eval_tokens, 6 * params * train_tokens + 2 * params * eval_tokens, steps, params)


def job_cost(job: Job, config: Mapping[str, Any], study: Study, size: ModelSize,
             parameters: float | None = None) -> Cost:  # fmt: skip
    """The FLOPs of one job (zero for jobs that do not run the model: data, masks, the toy world)."""
    if job.rule == "pretrain_toy_model":
        toy = config["toy"].get("model", {})
        training = {**_toy_default_training(), **toy.get("training", {})}
        length = toy.get("max_length", 64)
        params = parameters or size.per_token["pretrain"]
        steps = training["max_steps"] + toy.get("pair_steps", 0 if study.family == "t5" else 400)
        return run_cost({**training, "max_steps": steps}, 0, 0, length, params)
    if job.rule == "probe":
        kind = job.extra.split(":")[0]
        spec, length = study.probes[kind], study.probes.get("max_length", 128)
        params = parameters or size.per_token["encoder"]
        sentences = _probe_sentences(kind, spec, config)
        tokens = sentences * length
        return Cost(0, tokens, 2 * params * tokens, 0, params)
    if job.rule not in ("imp_round", "train_subnetwork", "method_mask"):
        return Cost()
    spec = study.tasks[job.task]
    data, training = spec.data, dict(spec.training)
    length = data.get("max_length", 128)
    params = parameters or size.per_token[job.task]
    if job.rule == "method_mask" and job.extra == "fish":  # a forward and backward pass per example
        tokens = min(study.fish_examples, data["n_train"]) * length
        return Cost(tokens, 0, 6 * params * tokens, 0, params)
    if job.rule == "method_mask" and job.extra == "wanda":  # forward passes over the calibration examples
        tokens = min(study.method_options("wanda").get("calibration_examples", 128), data["n_train"]) * length
        return Cost(0, tokens, 2 * params * tokens, 0, params)
    # lt_sft and oneshot: one dense run; early_bird: at most one (it stops when its masks settle).
    return run_cost(training, data["n_train"], data["n_eval"], length, params)


def _toy_default_training() -> dict[str, Any]:
    from subnets.toy.pretrain import DEFAULT_PRETRAINING

    return DEFAULT_PRETRAINING.to_dict()


def _probe_sentences(kind: str, spec: Mapping[str, Any], config: Mapping[str, Any]) -> int:
    """Sentences a probe encodes: each language of each pair (retrieval) or each language (CCA)."""
    world = config.get("toy", {}).get("world", {})
    if kind == "retrieval":
        per_side = world.get("parallel_size", 500) if spec["source"] == "toy" else 3000  # WMT14 newstest: ~3,000
        return 2 * len(spec.get("pairs", [])) * per_side
    per_language = world.get("parallel_nli_size", 500) if spec["source"] == "toy" else 2490  # XNLI validation
    return (1 + len(spec.get("languages", []))) * per_language


# ------------------------------------------------------------------------------------------- throughput


@dataclass(frozen=True)
class Throughput:
    flops_per_second: float | None = None
    tokens_per_second: float | None = None
    label: str = ""

    def seconds(self, cost: Cost) -> float:
        if self.tokens_per_second:
            return (cost.train_tokens + cost.eval_tokens / 3) / self.tokens_per_second
        return cost.flops / self.flops_per_second

    @classmethod
    def of(cls, gpu: str | None, share: float, tokens_per_second: float | None) -> "Throughput":
        if tokens_per_second:
            return cls(tokens_per_second=tokens_per_second, label=f"{tokens_per_second:g} training tokens/s")
        gpu = (gpu or "h100").lower()
        if gpu not in GPUS:
            raise SystemExit(f"unknown --gpu {gpu!r}; known: {', '.join(GPUS)} (or give --tokens-per-second)")
        peak, what = GPUS[gpu]
        return cls(flops_per_second=peak * 1e12 * share, label=f"{gpu}: {share:g} x {peak:g} TFLOPS ({what})")


# -------------------------------------------------------------------------------------------- the report


@dataclass
class Plan:
    config: dict
    study: Study
    size: ModelSize
    throughput: Throughput
    jobs: list[Job]
    costs: dict[Job, Cost] = field(default_factory=dict)
    parameters: float | None = None

    @classmethod
    def build(cls, configfile, throughput: Throughput, parameters: float | None = None,
              model_dir: str | None = None) -> "Plan":  # fmt: skip
        config, study = load_study(configfile)
        size = model_size(config, study, model_dir)
        jobs = plan_jobs(study)
        plan = cls(config, study, size, throughput, jobs, parameters=parameters)
        plan.costs = {job: job_cost(job, config, study, size, parameters) for job in jobs}
        return plan

    def hours(self, job: Job) -> float:
        return self.throughput.seconds(self.costs[job]) / 3600

    def by(self, key) -> dict[tuple, tuple[int, Cost, float]]:
        """(count, summed cost, GPU-hours) grouped by ``key(job)``, for jobs that run the model."""
        groups: dict[tuple, list] = {}
        for job in self.jobs:
            cost = self.costs[job]
            if cost.flops == 0:
                continue
            count, total, hours = groups.setdefault(key(job), [0, Cost(), 0.0])
            total += cost
            groups[key(job)] = [count + 1, total, hours + self.hours(job)]
        return {k: tuple(v) for k, v in sorted(groups.items())}

    def paper_rows(self) -> list[dict[str, Any]]:
        """Per task and language: one seed's IMP chain and one fine-tuning run, beside appendix H."""
        rows = []
        for task in self.study.tasks:
            if task not in PAPER_HOURS:
                continue
            run = Job("train_subnetwork", task, self.study.languages(task)[0], 0, "x", 50)
            one = self.costs.get(run) or job_cost(run, self.config, self.study, self.size, self.parameters)
            chain = len(self.study.sparsities) * self.throughput.seconds(one) / 3600
            fine = self.throughput.seconds(one) / 3600
            paper = PAPER_HOURS[task]
            rows.append(dict(task=task, chain_hours=chain, paper_pruning=paper["pruning"], finetune_hours=fine,
                             paper_finetune=paper["fine-tuning"], flops_run=one.flops,
                             rtx8000_tflops=one.flops / (paper["fine-tuning"] * 3600) / 1e12))  # fmt: skip
        return rows


def _fmt_flops(value: float) -> str:
    return f"{value:.2e}"


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda row: "| " + " | ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)])


def report(plan: Plan, measured: dict[str, dict[str, float]] | None = None) -> str:
    study, size = plan.study, plan.size
    out = [f"Study {study.name!r}: model {study.model_name} ({study.model_source}), {size.total:,} parameters "
           f"({size.where})"]  # fmt: skip
    per_token = ", ".join(f"{t} {n:,.0f}" for t, n in size.per_token.items())
    out.append(f"Parameters acting on each token: {per_token}" + (f"; overridden: {plan.parameters:g}" if plan.parameters else ""))
    out.append(f"Throughput: {plan.throughput.label}")
    out.append("Tokens per example = data.max_length (every example at full length: an upper bound for NER/NLI).")
    out.append("")
    counts = job_counts(plan.jobs)
    rows, total = [], [0, 0.0, 0.0]
    for (rule,), (count, cost, hours) in plan.by(lambda j: (j.rule,)).items():
        rows.append([rule, counts[rule], f"{cost.steps:,}", _fmt_flops(cost.flops), f"{hours:,.2f}"])
        total = [total[0] + count, total[1] + cost.flops, total[2] + hours]
    others = sorted(r for r in counts if r not in {row[0] for row in rows})
    rows.append(["all (model jobs)", total[0], "", _fmt_flops(total[1]), f"{total[2]:,.2f}"])
    out.append("Per rule (jobs that run the model):")
    out.append(_table(["rule", "jobs", "steps", "FLOPs", "GPU-hours"], rows))
    out.append("Other jobs (no model FLOPs): " + ", ".join(f"{r} {counts[r]}" for r in others))
    out.append(f"All jobs: {sum(counts.values())} (+1 for rule all); IMP rounds per level: "
               + ", ".join(f"{r} {n}" for r, n in sorted(job_counts(plan.jobs, split_levels=True).items())
                           if r.startswith("imp_round_")))  # fmt: skip
    out.append("")
    rows = [[task, rule, count, _fmt_flops(cost.flops), f"{hours:,.2f}"]
            for (task, rule), (count, cost, hours) in plan.by(lambda j: (j.task or "-", j.rule)).items()]  # fmt: skip
    out.append("Per task and rule:")
    out.append(_table(["task", "rule", "jobs", "FLOPs", "GPU-hours"], rows))
    paper = plan.paper_rows() if study.model_source == "bert-base-multilingual-cased" else []  # appendix H: mBERT
    if paper:
        out.append("")
        out.append("Beside the paper (appendix H, per language, Quadro RTX 8000): one seed's IMP chain "
                   f"({len(study.sparsities)} rounds) and one fine-tuning run, at this throughput:")  # fmt: skip
        out.append(_table(
            ["task", "IMP chain h", "paper pruning h", "one run h", "paper fine-tuning h", "FLOPs/run",
             "TFLOPS the paper's run implies"],
            [[r["task"], f"{r['chain_hours']:.2f}", f"{r['paper_pruning']:g}", f"{r['finetune_hours']:.2f}",
              f"{r['paper_finetune']:g}", _fmt_flops(r["flops_run"]), f"{r['rtx8000_tflops']:.1f}"] for r in paper],
        ))  # fmt: skip
    if measured:
        out.append("")
        out.append("Estimate against the recorded runs (metrics.json 'seconds', the job's whole wall time):")
        out.append(_table(
            ["rule", "jobs found", "estimated s", "measured s", "measured/estimated", "steps est/rec",
             "training tokens/s measured"],
            [[rule, m["jobs"], f"{m['estimated']:.1f}", f"{m['seconds']:.1f}",
              f"{m['seconds'] / m['estimated']:.2f}" if m["estimated"] else "-",
              f"{m['steps_estimated']}/{m['steps_recorded']}", f"{m['tokens'] / m['seconds']:,.0f}" if m["seconds"] else "-"]
             for rule, m in measured.items()],
        ))  # fmt: skip
    return "\n".join(out)


def write_csv(plan: Plan, path: str | os.PathLike) -> None:
    fields = ["rule", "snakemake_rule", "task", "lang", "seed", "source", "sparsity", "extra", "steps",
              "train_tokens", "eval_tokens", "params_per_token", "flops", "gpu_hours"]  # fmt: skip
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(fields)
        for job in plan.jobs:
            c = plan.costs[job]
            writer.writerow([job.rule, job.snakemake_rule, job.task, job.lang, "" if job.seed < 0 else job.seed,
                             job.source, "" if job.sparsity < 0 else job.sparsity, job.extra, c.steps,
                             int(c.train_tokens), int(c.eval_tokens), int(c.params), f"{c.flops:.6g}",
                             f"{plan.hours(job):.6g}"])  # fmt: skip


# ------------------------------------------------------------------------------------- recorded results


def result_path(job: Job) -> str | None:
    """Where a job's metrics.json lies under the study's results directory (as common.smk names it)."""
    s = N.sparsity_label(job.sparsity) if job.sparsity >= 0 else ""
    if job.rule == "imp_round":
        return f"imp/{job.task}/{job.lang}/seed{job.seed}/sparsity{s}/metrics.json"
    if job.rule == "train_subnetwork":
        return f"train/{job.task}/{job.lang}/seed{job.seed}/{job.source}-sparsity{s}/metrics.json"
    return None


def measured_costs(plan: Plan, results: str | os.PathLike) -> dict[str, dict[str, float]]:
    """Per rule: the jobs whose metrics.json exists under ``results``, their estimated and recorded seconds."""
    found: dict[str, dict[str, float]] = {}
    for job in plan.jobs:
        relative = result_path(job)
        path = Path(results) / relative if relative else None
        if path is None or not path.is_file():
            continue
        metrics = json.loads(path.read_text())
        if "seconds" not in metrics:
            continue
        row = found.setdefault(job.rule, dict(jobs=0, estimated=0.0, seconds=0.0, tokens=0.0,
                                              steps_estimated=0, steps_recorded=0))  # fmt: skip
        cost = plan.costs[job]
        row["jobs"] += 1
        row["estimated"] += plan.throughput.seconds(cost)
        row["seconds"] += float(metrics["seconds"])
        row["tokens"] += cost.train_tokens
        row["steps_estimated"] += cost.steps
        row["steps_recorded"] += int(metrics.get("total_steps", 0))
    return found


# ----------------------------------------------------------------------------------------------- the CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--configfile", required=True, help="the study's config (as given to snakemake)")
    parser.add_argument("--gpu", default="h100", help=f"GPU of the bf16 peak: {', '.join(GPUS)} (default h100)")
    parser.add_argument("--share", type=float, default=DEFAULT_SHARE,
                        help=f"achievable share of the peak (default {DEFAULT_SHARE})")
    parser.add_argument("--tokens-per-second", type=float, help="a measured training throughput instead of --gpu")
    parser.add_argument("--parameters", type=float, help="parameters acting on each token (replaces the model's)")
    parser.add_argument("--model-dir", help="a local model directory whose config.json gives the size")
    parser.add_argument("--results", help="a results directory (results/STUDY) to set the estimate against")
    parser.add_argument("--csv", help="write every job with its estimate to this CSV file")


def run(args: argparse.Namespace) -> int:
    if not 0 < args.share <= 1:
        raise SystemExit(f"--share must be in (0, 1], not {args.share}")
    throughput = Throughput.of(args.gpu, args.share, args.tokens_per_second)
    plan = Plan.build(args.configfile, throughput, parameters=args.parameters, model_dir=args.model_dir)
    measured = None
    if args.results:
        if not Path(args.results).is_dir():
            raise SystemExit(f"--results {args.results}: no such directory")
        measured = measured_costs(plan, args.results)
        if not measured:
            print(f"(no metrics.json with 'seconds' under {args.results})", file=sys.stderr)
    print(report(plan, measured))
    if args.csv:
        write_csv(plan, args.csv)
    return 0
