# Helpers only: paths, input functions and the per-rule slices of the config. The study itself (levels,
# languages, sub-network names, every cross-field check) is subnets.study, torch-free: `snakemake -n` on the
# paper's grid stays fast. Target lists are in targets.smk.

from snakemake.exceptions import WorkflowError

from subnets.study import ConfigError, Study
from subnets.study import names as N

try:
    STUDY = Study.from_config(config)
except ConfigError as err:
    raise WorkflowError(str(err)) from None

TASKS = list(STUDY.tasks)
RESULTS = f"results/{STUDY.name}"
RESOURCES = f"resources/{STUDY.name}"
LOGS = f"{RESULTS}/logs"
MODEL_DIR = f"{RESOURCES}/models/{STUDY.model_name}"
TOY_WORLD = f"{RESOURCES}/toy/world"
TOY_TOKENIZER = f"{RESOURCES}/toy/tokenizer"


def label(sparsity):
    """A sparsity as paths and table names spell it ("05", "50"); a wildcard pattern passes unchanged."""
    return sparsity if isinstance(sparsity, str) else N.sparsity_label(sparsity)


# ------------------------------------------------------------------------------------------------- paths


def data_dir(task, lang):
    """The prepared data of a language, or of the task's multilingual mixture."""
    if STUDY.is_mixture(task, lang):
        return f"{RESOURCES}/data/{task}/mixtures/{lang}"
    return f"{RESOURCES}/data/{task}/{lang}"


def round_metrics(task, lang, seed, sparsity):
    """The IMP round at ``sparsity``: its performance there (peak over the evaluation curve)."""
    return (
        f"{RESULTS}/imp/{task}/{lang}/seed{seed}/sparsity{label(sparsity)}/metrics.json"
    )


def ticket_path(task, lang, seed, sparsity):
    """The IMP ticket of (task, lang, seed) at ``sparsity``, stored under the sparsity it holds."""
    return f"{RESULTS}/tickets/{task}/{lang}/seed{seed}/sparsity{label(sparsity)}.safetensors"


def random_mask_path(task, seed, sparsity):
    return f"{RESULTS}/masks/{N.RANDOM}/{task}/seed{seed}/sparsity{label(sparsity)}.safetensors"


def method_mask_path(method, task, lang, seed, sparsity):
    return f"{RESULTS}/masks/{method}/{task}/{lang}/seed{seed}/sparsity{label(sparsity)}.safetensors"


def train_metrics(task, lang, seed, source, sparsity):
    return f"{RESULTS}/train/{task}/{lang}/seed{seed}/{source}-sparsity{label(sparsity)}/metrics.json"


def probe_path(kind, subnetwork):
    """A probe's per-layer table; ``subnetwork`` is "dense" or a ticket name (subnets.study.names)."""
    return f"{RESULTS}/probes/{kind}/{subnetwork}.csv"


def table(name, ext="csv"):
    return f"{RESULTS}/tables/{name}.{ext}"


def figure(name, ext):
    return f"{RESULTS}/figures/{name}.{ext}"


def log(name):
    return f"{LOGS}/{name}.log"


# ------------------------------------------------------------------------------------- input functions


def imp_round_input(sparsity):
    """theta0, the prepared data and, beyond round 0, the ticket at the round's sparsity."""

    def inputs(wildcards):
        found = {"model": MODEL_DIR, "data": data_dir(wildcards.task, wildcards.lang)}
        if sparsity > 0:
            found["ticket"] = ticket_path(
                wildcards.task, wildcards.lang, wildcards.seed, sparsity
            )
        return found

    return inputs


def prepare_data_input(wildcards):
    toy = STUDY.tasks[wildcards.task].data["source"] == "toy"
    return {"model": MODEL_DIR, **({"world": TOY_WORLD} if toy else {})}


def rounds(task, langs, seeds, levels):
    """The metrics of IMP rounds, in (language, seed, level) order."""
    return [
        round_metrics(task, l, seed, s) for l in langs for seed in seeds for s in levels
    ]


def runs(task, sources, targets, seeds, s):
    """Each source's sub-network trained on each other target, in (source, target, seed) order."""
    return [
        train_metrics(task, t, seed, src, s)
        for src in sources
        for t in targets
        if src != t
        for seed in seeds
    ]


def imp_metrics_of_task(wildcards):
    return rounds(
        wildcards.task, STUDY.languages(wildcards.task), STUDY.seeds, STUDY.sparsities
    )


def random_metrics_of_task(wildcards):
    """Random sub-networks trained on each language (Table 2 "rand")."""
    task, seeds = wildcards.task, STUDY.transfer_seeds
    levels = STUDY.random_sparsities
    return [
        train_metrics(task, l, seed, N.RANDOM, s)
        for l in STUDY.languages(task)
        for seed in seeds
        for s in levels
    ]


def overlap_masks(wildcards):
    task, s = wildcards.task, STUDY.overlap_sparsity
    return [
        ticket_path(task, l, seed, s)
        for l in STUDY.languages(task)
        for seed in STUDY.seeds
    ]


def subnetwork_input(wildcards):
    """theta0, the target language's data and the mask of the run's source (subnets.study.names)."""
    task, lang, seed = wildcards.task, wildcards.lang, wildcards.seed
    s = int(wildcards.sparsity)
    try:
        source = STUDY.source(task, wildcards.source)
    except ValueError as err:
        raise WorkflowError(str(err)) from None
    if source.kind == "random":
        mask = random_mask_path(task, seed, s)
    elif source.kind == "method":
        mask = method_mask_path(source.method, task, source.language or lang, seed, s)
    elif source.kind == "repruned":
        mask = ticket_path(task, lang, seed, source.start)
    elif source.kind == "cross_task":
        mask = ticket_path(source.task, lang, seed, s)
    else:
        mask = ticket_path(task, source.language, seed, s)
    return {"model": MODEL_DIR, "data": data_dir(task, lang), "mask": mask}


def method_mask_input(wildcards):
    return {"model": MODEL_DIR, "data": data_dir(wildcards.task, wildcards.lang)}


def study_paths(entries):
    """subnets.study's (kind, *arguments) input entries as paths, key by key."""
    kinds = dict(round=round_metrics, ticket=ticket_path, train=train_metrics)
    kinds["mask"] = method_mask_path
    return {key: [kinds[kind](*a) for kind, *a in e] for key, e in entries.items()}


def probe_input(wildcards):
    """theta0, the ticket (none for the dense model) and the toy world when the data come from it."""
    inputs = {"model": MODEL_DIR}
    if wildcards.subnetwork != N.DENSE:
        try:
            inputs["mask"] = ticket_path(*N.parse_ticket_name(wildcards.subnetwork))
        except ValueError as err:
            raise WorkflowError(str(err)) from None
    if STUDY.probes[wildcards.kind]["source"] == "toy":
        inputs["world"] = TOY_WORLD
    return inputs


def paper_comparison_input(wildcards):
    """This run's tables that have a published counterpart (Table 2, Tables 3-5 at 50%, Table 1)."""
    inputs = {"tickets": table("winning_tickets")}
    if STUDY.targets["transfer"] and 50 in STUDY.transfer_sparsities:
        inputs["transfer"] = [table(f"{task}/transfer_sparsity50") for task in TASKS]
    if STUDY.targets["multilingual"]:
        inputs["multilingual"] = [
            table(f"{task}/multilingual_sparsity{label(spec.sparsity)}")
            for task, spec in STUDY.multilingual.items()
        ]
    return inputs


def mixture_input(wildcards):
    langs = STUDY.multilingual[wildcards.task].languages
    return {lang: data_dir(wildcards.task, lang) for lang in langs}


def repruned_table_input(wildcards):
    """Footnote 9 for one task: own tickets, transfers into each language, random and re-pruned runs."""
    task, s, seeds = wildcards.task, STUDY.repruned_sparsity, STUDY.transfer_seeds
    langs, baselines = STUDY.languages(task), STUDY.repruned_sources
    return {
        "own": rounds(task, langs, seeds, [s]),
        "transfer": runs(task, langs, langs, seeds, s),
        "baselines": [
            train_metrics(task, l, seed, src, s)
            for l in langs
            for seed in seeds
            for src in baselines
        ],
    }


def cross_task_runs():
    """Every task trained on each common language with its own ticket and the other tasks' tickets."""
    s, found = STUDY.cross_task_sparsity, []
    for task in TASKS:
        others = [f"{N.CROSS_TASK_PREFIX}{other}" for other in TASKS if other != task]
        for lang in STUDY.cross_task_languages:
            for seed in STUDY.transfer_seeds:
                found.append(round_metrics(task, lang, seed, s))
                found += [train_metrics(task, lang, seed, src, s) for src in others]
    return found


def multilingual_table_input(wildcards):
    """Table 1: dense and own tickets of the targets, single-language and multilingual tickets on them."""
    task, seeds = wildcards.task, STUDY.transfer_seeds
    spec = STUDY.multilingual[task]
    return {
        "dense": rounds(task, spec.targets, seeds, [0]),
        "own": rounds(task, spec.targets, seeds, [spec.sparsity]),
        "transfer": runs(
            task, [*spec.languages, spec.mixture], spec.targets, seeds, spec.sparsity
        ),
    }


def transfer_matrix_input(wildcards):
    task, s, seeds = wildcards.task, int(wildcards.sparsity), STUDY.transfer_seeds
    langs = STUDY.languages(task)
    return {
        "dense": rounds(task, langs, STUDY.seeds, [0]),
        "diagonal": rounds(task, langs, STUDY.seeds, [s]),
        "transfer": runs(task, langs, langs, seeds, s),
        "random": runs(task, [N.RANDOM], langs, seeds, s),
    }


def phantom_input(wildcards):
    """The world's manifest and the tables the phantom checks (overlap, transfer, tickets, probes)."""
    s = label(STUDY.overlap_sparsity)
    found = {"world": TOY_WORLD, "tickets": table("winning_tickets")}
    found["overlap"] = [table(f"{t}/overlap_sparsity{s}") for t in TASKS]
    found["bound"] = [table(f"{t}/overlap_bound_sparsity{s}") for t in TASKS]
    if STUDY.targets["transfer"]:
        s = label(STUDY.phantom_transfer_sparsity)
        found["transfer"] = [table(f"{t}/transfer_sparsity{s}") for t in TASKS]
    return found | {
        kind: table(kind) for kind in ("retrieval", "cca") if STUDY.targets[kind]
    }


# ---------------------------------------------------------------------------- per-rule slices of config


def training_params(wildcards):
    """The training hyperparameters of the job's task (the seed is added by the script)."""
    return dict(STUDY.tasks[wildcards.task].training)


def theta0_params(wildcards):
    """What theta0 depends on besides the seed: the task's head_seed, when it sets one."""
    return {k: v for k, v in training_params(wildcards).items() if k == "head_seed"}


def method_training_params(wildcards):
    """Only the methods that train (LT-SFT, one-shot, early-bird) rerun when the training settings change."""
    trains = STUDY.method_trains(wildcards.method)
    return training_params(wildcards) if trains else theta0_params(wildcards)


def task_options(wildcards):
    return dict(STUDY.tasks[wildcards.task].options)


def data_params(wildcards):
    data = dict(STUDY.tasks[wildcards.task].data)
    if data["source"] == "toy":
        data["source"] = f"{TOY_WORLD}/{wildcards.task}/{{lang}}"
    return data


def probe_params(wildcards):
    """The probe's settings, the toy world's files in place of "toy"; which ticket is probed is in the path."""
    kind, probes = wildcards.kind, STUDY.probes
    spec = {key: value for key, value in probes[kind].items() if key != "tickets"}
    if spec["source"] == "toy":
        folder = {"retrieval": "parallel/{src}-{tgt}", "cca": "parallel_nli/{lang}"}[
            kind
        ]
        spec["source"] = f"{TOY_WORLD}/{folder}"
    return {
        **spec,
        "batch_size": probes["batch_size"],
        "max_length": probes["max_length"],
    }


def multilingual_spec(wildcards):
    spec = STUDY.multilingual[wildcards.task]
    return dict(
        sources=list(spec.languages), targets=list(spec.targets), mixture=spec.mixture
    )


def task_languages(wildcards):
    return STUDY.languages(wildcards.task)


def training_resource(name, global_name=None):
    """A resource of the training jobs: the task's override `name`, else `resources.<global_name or name>`
    (`gpu` is `gpu_per_job` there). Memory grows with each retry (`--retries`), so a job killed for memory asks
    for more next time. A job with more than one GPU trains data-parallel, one process per GPU.
    """

    def get(wildcards, attempt):
        value = STUDY.tasks[wildcards.task].resources.get(
            name, STUDY.resources[global_name or name]
        )
        return value * attempt if name == "mem_mb" else value

    return get


def training_threads(wildcards):
    return training_resource("threads")(wildcards, attempt=1)
