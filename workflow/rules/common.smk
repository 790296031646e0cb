# Helper functions only: paths, target lists, input functions and the per-rule slices of the config.
# No heavy imports here: `snakemake -n` on the paper's grid must stay fast.

import os
import re

from snakemake.exceptions import WorkflowError

STUDY = config["study"]
RESULTS = f"results/{STUDY}"
RESOURCES = f"resources/{STUDY}"
LOGS = f"{RESULTS}/logs"
MODEL_DIR = f"{RESOURCES}/models/{config['model']['name']}"
TOY_DIR = f"{RESOURCES}/toy"
TOY_WORLD = f"{TOY_DIR}/world"
TOY_TOKENIZER = f"{TOY_DIR}/tokenizer"
USE_TOY_MODEL = config["model"]["source"] == "toy"
# bert | t5: the task adapters, the prunable weights and the toy model
FAMILY = config["model"]["family"]

PRUNE_PERCENT = config["imp"]["prune_percent"]
MAX_SPARSITY = config["imp"]["max_sparsity"]
SPARSITIES = list(range(0, MAX_SPARSITY + 1, PRUNE_PERCENT))
SEEDS = list(config["seeds"])
TASKS = [name for name, spec in config["tasks"].items() if spec.get("enabled", True)]
TARGETS = config["targets"]
OVERLAP_SPARSITY = config["analysis"]["overlap_sparsity"]
TRANSFER_SPARSITIES = sorted(config["analysis"]["transfer_sparsities"])
# Random sub-networks: at the configured levels (Table 2 "rand"), and at the transfer levels when transfer is on.
RANDOM_SPARSITIES = sorted(
    set(config["analysis"]["random_sparsities"])
    | (set(TRANSFER_SPARSITIES) if TARGETS["transfer"] else set())
)
RANDOM = "random"  # the source name of random sub-networks in transfer paths
PROBES = config["probes"]
MASK_METHODS = list(config["mask_methods"]["methods"])
MASK_METHODS_SPARSITY = config["mask_methods"]["sparsity"]
DENSE = "dense"  # the probed subnetwork name of theta0 without a mask
# Seeds of every run besides the IMP chains (transfer, random and re-pruned baselines, cross-task,
# multilingual): a subset of SEEDS, so that a small study can afford the second seed for its chains only.
TRANSFER_SEEDS = list(config["analysis"]["transfer_seeds"] or SEEDS)
REPRUNED_FROM = sorted(config["analysis"]["repruned_from"])
REPRUNED_SPARSITY = config["analysis"]["repruned_sparsity"]
REPRUNED = (
    "repruned"  # source "repruned20": the language's own 20% ticket pruned on at random
)
CROSS_TASK_SPARSITY = config["analysis"]["cross_task_sparsity"]
CROSS_TASK = "task-"  # source "task-ner": the same language's NER ticket, carried over to the task trained
MULTILINGUAL = {
    task: spec for task, spec in config["multilingual"].items() if task in TASKS
}


def languages(task):
    """The languages of ``task``, in the config's order."""
    return list(config["tasks"][task]["languages"])


def language_order():
    """Every language of the study in one fixed order (config language_order, else first appearance)."""
    order = list(config.get("language_order") or [])
    for task in TASKS:
        order += [lang for lang in languages(task) if lang not in order]
    return order


def sparsity_label(sparsity):
    return f"{int(sparsity):02d}"


def mixture_name(task):
    """The multilingual ticket's name, its languages joined as in the paper's Table 1 ("en-fa-fr-zh")."""
    return "-".join(MULTILINGUAL[task]["languages"])


def common_languages():
    """Languages that every task of the study has, in the study's order."""
    return [
        lang
        for lang in language_order()
        if all(lang in languages(task) for task in TASKS)
    ]


def cross_task_languages():
    """The languages of the cross-task runs (appendix C): configured, else all common ones."""
    return list(config["analysis"]["cross_task_languages"] or common_languages())


# ------------------------------------------------------------------------------------------ config checks


def _config_error(key, problem):
    return WorkflowError(f"Error in config: {key}: {problem}")


def toy_language_codes():
    """Codes of the toy world's languages (validates the world config as a side effect)."""
    from subnets.toy.config import WorldConfig

    world = dict(config["toy"]["world"])
    if "sentences_per_doc" in world:
        world["sentences_per_doc"] = tuple(world["sentences_per_doc"])
    if isinstance(world.get("languages"), list):
        world["languages"] = tuple(world["languages"])
    try:
        return WorldConfig(**world).language_codes
    except ValueError as err:
        raise _config_error("toy.world", err) from None


def _check_languages(task, spec):
    source = spec["data"]["source"]
    key = f"tasks.{task}.languages"
    if source == "toy":
        available = toy_language_codes()
        missing = [lang for lang in spec["languages"] if lang not in available]
        if missing:
            raise _config_error(
                key,
                f"the toy world has no language(s) {missing}; its languages: {' '.join(available)}",
            )
    elif source == "hub":
        from subnets.data import hub

        lists = {
            "ner": (hub.WIKIANN_ID, hub.WIKIANN_LANGUAGES),
            "nli": (hub.XNLI_ID, hub.XNLI_LANGUAGES),
        }
        if task in lists:
            name, available = lists[task]
            missing = [lang for lang in spec["languages"] if lang not in available]
            if missing:
                raise _config_error(
                    key,
                    f"{name} has no language(s) {missing}; available: {' '.join(available)}",
                )
        else:
            bad = [
                lang
                for lang in spec["languages"]
                if not re.fullmatch(r"[a-z]{2,3}(-[a-z0-9]+)*", lang)
            ]
            if bad:
                raise _config_error(key, f"not Wikipedia language codes: {bad}")
    else:
        paths = source.values() if isinstance(source, dict) else [source]
        for lang in spec["languages"]:
            for path in paths:
                local = path.replace("{lang}", lang)
                if not os.path.exists(local):
                    raise _config_error(
                        f"tasks.{task}.data.source",
                        f"no data for language {lang!r}: {local} does not exist",
                    )


def check_config():
    """What the schema cannot say: cross-field constraints. Errors name the key and the problem."""
    if not TASKS:
        raise _config_error("tasks", "every task is disabled")
    if MAX_SPARSITY % PRUNE_PERCENT:
        raise _config_error(
            "imp.max_sparsity",
            f"{MAX_SPARSITY} is not a multiple of imp.prune_percent ({PRUNE_PERCENT})",
        )
    for key, values in (
        ("analysis.overlap_sparsity", [OVERLAP_SPARSITY]),
        ("analysis.transfer_sparsities", TRANSFER_SPARSITIES),
        ("analysis.random_sparsities", config["analysis"]["random_sparsities"]),
    ):
        for value in values:
            if value % PRUNE_PERCENT:
                raise _config_error(
                    key,
                    f"{value} is not a multiple of imp.prune_percent ({PRUNE_PERCENT})",
                )
    if TARGETS["overlap"] and not 0 < OVERLAP_SPARSITY <= MAX_SPARSITY + PRUNE_PERCENT:
        raise _config_error(
            "analysis.overlap_sparsity",
            f"{OVERLAP_SPARSITY} needs masks that IMP does not reach (max_sparsity {MAX_SPARSITY})",
        )
    if TARGETS["transfer"]:
        for value in TRANSFER_SPARSITIES:
            if not 0 < value <= MAX_SPARSITY:
                raise _config_error(
                    "analysis.transfer_sparsities",
                    f"{value} must lie in (0, imp.max_sparsity = {MAX_SPARSITY}]",
                )
    bad = [seed for seed in TRANSFER_SEEDS if seed not in SEEDS]
    if bad:
        raise _config_error(
            "analysis.transfer_seeds", f"{bad} are not in `seeds` ({SEEDS})"
        )
    order = config.get("language_order")
    if order:
        missing = [lang for lang in language_order() if lang not in order]
        if missing:
            raise _config_error(
                "language_order", f"lacks language(s) {missing} used by tasks"
            )
    for task in TASKS:
        spec = config["tasks"][task]
        reserved = [
            lang
            for lang in spec["languages"]
            if lang in (RANDOM, "lt_sft", "fish")
            or re.fullmatch(rf"{REPRUNED}\d+", lang)
            or lang.startswith(CROSS_TASK)
        ]
        if reserved:
            raise _config_error(
                f"tasks.{task}.languages",
                f"{reserved}: {RANDOM!r}, {REPRUNED}NN and {CROSS_TASK}* name sub-networks",
            )
        if "seed" in spec["training"]:
            raise _config_error(
                f"tasks.{task}.training.seed",
                "run seeds come from the top-level key `seeds`",
            )
        _check_languages(task, spec)
        _check_task_options(task, spec.get("options") or {})
    _check_family()
    _check_ticket_levels()
    _check_multilingual()
    _check_probes()
    _check_mask_methods()


def _check_family():
    """What an encoder-decoder study can run, and the toy model's keys for the family."""
    if FAMILY == "t5":
        probes = [name for name in ("retrieval", "cca") if TARGETS[name]]
        if probes:
            raise _config_error(
                f"targets.{probes[0]}",
                "the zero-shot probes read encoder layers of BERT models; switch them off for model.family t5",
            )
    if USE_TOY_MODEL:
        from subnets.toy.pretrain import ToyModelConfig
        from subnets.toy.pretrain_t5 import ToyT5Config

        toy_config = ToyT5Config if FAMILY == "t5" else ToyModelConfig
        try:
            toy_config.from_dict(config["toy"]["model"])
        except (TypeError, ValueError) as err:
            raise _config_error(f"toy.model (model.family {FAMILY})", err) from None


def _check_ticket_levels():
    """Baselines and cross-task runs need tickets that the IMP chains reach."""
    top = (
        MAX_SPARSITY + PRUNE_PERCENT
    )  # the last round leaves the mask at max_sparsity + p
    checks = []
    if TARGETS["repruned"]:
        checks.append(("analysis.repruned_sparsity", [REPRUNED_SPARSITY]))
        checks.append(("analysis.repruned_from", REPRUNED_FROM))
        for value in REPRUNED_FROM:
            if value >= REPRUNED_SPARSITY:
                raise _config_error(
                    "analysis.repruned_from",
                    f"{value} is not below analysis.repruned_sparsity ({REPRUNED_SPARSITY})",
                )
    if TARGETS["cross_task"]:
        checks.append(("analysis.cross_task_sparsity", [CROSS_TASK_SPARSITY]))
        if len(TASKS) < 2:
            raise _config_error(
                "targets.cross_task", "needs at least two enabled tasks"
            )
        if not cross_task_languages():
            raise _config_error(
                "targets.cross_task", f"no language is common to the tasks {TASKS}"
            )
        missing = [
            lang for lang in cross_task_languages() if lang not in common_languages()
        ]
        if missing:
            raise _config_error(
                "analysis.cross_task_languages",
                f"{missing} are not languages of every task {TASKS}",
            )
    for key, values in checks:
        for value in values:
            if value % PRUNE_PERCENT or not 0 < value <= top:
                raise _config_error(
                    key,
                    f"{value} is not an IMP level: levels are multiples of imp.prune_percent ({PRUNE_PERCENT}) "
                    f"up to {top} (imp.max_sparsity + prune_percent)",
                )


def _check_multilingual():
    if TARGETS["multilingual"] and not MULTILINGUAL:
        raise _config_error(
            "targets.multilingual", "is on, but `multilingual` names no enabled task"
        )
    for task, spec in config["multilingual"].items():
        key = f"multilingual.{task}"
        if task not in TASKS:
            raise _config_error(key, f"{task} is not an enabled task")
        for field in ("languages", "targets"):
            missing = [lang for lang in spec[field] if lang not in languages(task)]
            if missing:
                raise _config_error(
                    f"{key}.{field}",
                    f"{missing} are not languages of tasks.{task}",
                )
        if mixture_name(task) in languages(task):
            raise _config_error(
                f"{key}.languages",
                f"the mixture name {mixture_name(task)!r} is a language",
            )
        sparsity = spec["sparsity"]
        if sparsity % PRUNE_PERCENT or not 0 < sparsity <= MAX_SPARSITY + PRUNE_PERCENT:
            raise _config_error(
                f"{key}.sparsity",
                f"{sparsity} is not an IMP level (multiples of {PRUNE_PERCENT} up to {MAX_SPARSITY + PRUNE_PERCENT})",
            )


def _check_probes():
    top = MAX_SPARSITY + PRUNE_PERCENT
    if TARGETS["retrieval"] or TARGETS["cca"]:
        sparsity = PROBES["sparsity"]
        if sparsity % PRUNE_PERCENT or not 0 < sparsity <= top:
            raise _config_error(
                "probes.sparsity",
                f"{sparsity} is not an IMP level (multiples of {PRUNE_PERCENT} up to {top})",
            )
    toy = (
        toy_language_codes()
        if "toy" in (PROBES["retrieval"]["source"], PROBES["cca"]["source"])
        else None
    )
    if TARGETS["retrieval"] and PROBES["retrieval"]["source"] == "toy":
        for src, tgt in PROBES["retrieval"]["pairs"]:
            if src != toy[0] or tgt not in toy[1:]:
                raise _config_error(
                    "probes.retrieval.pairs",
                    f"[{src}, {tgt}]: the toy world's parallel pairs are [{toy[0]}, X] for X in {toy[1:]}",
                )
    if TARGETS["cca"]:
        cca = PROBES["cca"]
        if toy is not None and PROBES["cca"]["source"] == "toy":
            missing = [
                lang
                for lang in [cca["reference"], *cca["languages"]]
                if lang not in toy
            ]
            if missing:
                raise _config_error(
                    "probes.cca.languages", f"the toy world has no {missing}"
                )
        for task, lang in cca["tickets"]:
            if task not in TASKS or lang not in languages(task):
                raise _config_error(
                    "probes.cca.tickets",
                    f"[{task}, {lang}] is not a task and one of its languages",
                )


def _check_mask_methods():
    if not TARGETS["mask_methods"]:
        return
    if not MASK_METHODS:
        raise _config_error(
            "targets.mask_methods", "is on, but mask_methods.methods is empty"
        )
    s = MASK_METHODS_SPARSITY
    if s % PRUNE_PERCENT or not 0 < s <= MAX_SPARSITY:
        raise _config_error(
            "mask_methods.sparsity",
            f"{s} must be the level of an IMP round (multiples of {PRUNE_PERCENT} up to imp.max_sparsity = "
            f"{MAX_SPARSITY}), to compare with the ticket trained there",
        )


def _check_task_options(task, options):
    """Build the task adapter once (cheap: no torch import) so that an unknown option fails now."""
    import dataclasses

    from subnets.tasks import get_task

    try:
        get_task(task, FAMILY)
    except ValueError as err:
        raise _config_error(f"tasks.{task}", err) from None
    try:
        get_task(task, FAMILY, **options)
    except TypeError:
        known = [f.name for f in dataclasses.fields(get_task(task, FAMILY))]
        unknown = sorted(set(options) - set(known))
        raise _config_error(
            f"tasks.{task}.options", f"unknown option(s) {unknown}; known: {known}"
        ) from None
    except ValueError as err:
        raise _config_error(f"tasks.{task}.options", err) from None


# ------------------------------------------------------------------------------------------------- paths


def data_dir(task, lang):
    """The prepared data of a language, or of the task's multilingual mixture."""
    if task in MULTILINGUAL and lang == mixture_name(task):
        return f"{RESOURCES}/data/{task}/mixtures/{lang}"
    return f"{RESOURCES}/data/{task}/{lang}"


def imp_dir(task, lang, seed, sparsity):
    return f"{RESULTS}/imp/{task}/{lang}/seed{seed}/sparsity{sparsity_label(sparsity)}"


def ticket_mask(task, lang, seed, sparsity):
    """The IMP mask of (task, lang, seed) at ``sparsity``: the next mask of the round before it."""
    return f"{imp_dir(task, lang, seed, int(sparsity) - PRUNE_PERCENT)}/next_mask.safetensors"


def random_mask_path(task, seed, sparsity):
    return f"{RESULTS}/masks/random/{task}/seed{seed}/sparsity{sparsity_label(sparsity)}.safetensors"


def method_mask_path(method, task, lang, seed, sparsity):
    label = sparsity_label(sparsity)
    return (
        f"{RESULTS}/masks/{method}/{task}/{lang}/seed{seed}/sparsity{label}.safetensors"
    )


def train_metrics(task, lang, seed, source, sparsity):
    label = sparsity_label(sparsity)
    return f"{RESULTS}/train/{task}/{lang}/seed{seed}/{source}-sparsity{label}/metrics.json"


def probe_path(kind, subnetwork):
    """A probe's per-layer table; ``subnetwork`` is "dense" or "{task}/{lang}/seed{seed}-sparsity{s}"."""
    return f"{RESULTS}/probes/{kind}/{subnetwork}.csv"


def ticket_name(task, lang, seed, sparsity):
    return f"{task}/{lang}/seed{seed}-sparsity{sparsity_label(sparsity)}"


def table(name, ext="csv"):
    return f"{RESULTS}/tables/{name}.{ext}"


def figure(name, ext):
    return f"{RESULTS}/figures/{name}.{ext}"


# ------------------------------------------------------------------------------------- input functions


def imp_round_input(wildcards):
    """theta0, the prepared data and, beyond round 0, the mask the previous round left."""
    sparsity = int(wildcards.sparsity)
    if sparsity % PRUNE_PERCENT or sparsity > MAX_SPARSITY:
        raise WorkflowError(
            f"no IMP round at sparsity {sparsity}: rounds are at {SPARSITIES} (imp.prune_percent, imp.max_sparsity)"
        )
    inputs = {"model": MODEL_DIR, "data": data_dir(wildcards.task, wildcards.lang)}
    if sparsity > 0:
        inputs["mask"] = ticket_mask(
            wildcards.task, wildcards.lang, wildcards.seed, sparsity
        )
    return inputs


def prepare_data_input(wildcards):
    inputs = {"model": MODEL_DIR}
    if config["tasks"][wildcards.task]["data"]["source"] == "toy":
        inputs["world"] = TOY_WORLD
    return inputs


def imp_metrics_of_task(wildcards):
    task = wildcards.task
    return [
        f"{imp_dir(task, lang, seed, s)}/metrics.json"
        for lang in languages(task)
        for seed in SEEDS
        for s in SPARSITIES
    ]


def random_metrics_of_task(wildcards):
    """Random sub-networks trained on each language (Table 2 "rand")."""
    task = wildcards.task
    return [
        train_metrics(task, lang, seed, RANDOM, s)
        for lang in languages(task)
        for seed in TRANSFER_SEEDS
        for s in RANDOM_SPARSITIES
    ]


def overlap_masks(wildcards):
    task = wildcards.task
    return [
        ticket_mask(task, lang, seed, OVERLAP_SPARSITY)
        for lang in languages(task)
        for seed in SEEDS
    ]


def subnetwork_source(wildcards):
    """What the source of a training run names: (method, mask's task, mask's language, start sparsity)."""
    task, lang, source = wildcards.task, wildcards.lang, wildcards.source
    if source == RANDOM:
        return "random", task, None, None
    if re.fullmatch(rf"{REPRUNED}\d+", source):
        return "repruned", task, lang, int(source[len(REPRUNED) :])
    if source.startswith(CROSS_TASK):
        ticket_task = source[len(CROSS_TASK) :]
        if ticket_task not in TASKS or ticket_task == task:
            raise WorkflowError(f"{source!r}: {ticket_task!r} is not another task")
        return "cross_task", ticket_task, lang, None
    if source in MASK_METHODS:
        return "method", task, lang, None
    if source in languages(task) or (
        task in MULTILINGUAL and source == mixture_name(task)
    ):
        return "ticket", task, source, None
    raise WorkflowError(
        f"{source!r} is neither a language of task {task}, nor {RANDOM!r}, "
        f"{REPRUNED}NN, {CROSS_TASK}TASK or the task's multilingual mixture"
    )


def subnetwork_input(wildcards):
    """theta0, the target language's data and the mask the run starts from (see subnetwork_source)."""
    method, mask_task, mask_lang, start = subnetwork_source(wildcards)
    inputs = {"model": MODEL_DIR, "data": data_dir(wildcards.task, wildcards.lang)}
    if method == "random":
        inputs["mask"] = random_mask_path(
            wildcards.task, wildcards.seed, wildcards.sparsity
        )
    elif method == "method":
        inputs["mask"] = method_mask_path(
            wildcards.source,
            wildcards.task,
            wildcards.lang,
            wildcards.seed,
            wildcards.sparsity,
        )
    else:
        level = start if method == "repruned" else wildcards.sparsity
        inputs["mask"] = ticket_mask(mask_task, mask_lang, wildcards.seed, level)
    return inputs


def subnetwork_derivation(wildcards):
    """How the run's mask derives from its input mask: as is, pruned on at random, or carried over."""
    method, _, _, start = subnetwork_source(wildcards)
    return {"method": method, "start": start}


def method_mask_input(wildcards):
    return {"model": MODEL_DIR, "data": data_dir(wildcards.task, wildcards.lang)}


def mask_methods_table_input(wildcards):
    """Per task, language and transfer seed: dense and IMP rounds, and each method's mask trained."""
    task, s = wildcards.task, MASK_METHODS_SPARSITY
    rounds = [
        f"{imp_dir(task, lang, seed, level)}/metrics.json"
        for lang in languages(task)
        for seed in TRANSFER_SEEDS
        for level in (0, s)
    ]
    trained = [
        train_metrics(task, lang, seed, method, s)
        for method in MASK_METHODS
        for lang in languages(task)
        for seed in TRANSFER_SEEDS
    ]
    return {"rounds": rounds, "trained": trained}


def probe_input(wildcards):
    """theta0, the ticket's mask (none for the dense model) and the toy world when the data come from it."""
    inputs = {"model": MODEL_DIR}
    if wildcards.subnetwork != DENSE:
        match = re.fullmatch(
            r"([^/]+)/([^/]+)/seed(\d+)-sparsity(\d+)", wildcards.subnetwork
        )
        if match is None:
            raise WorkflowError(f"{wildcards.subnetwork!r} names no ticket")
        task, lang, seed, sparsity = match.groups()
        inputs["mask"] = ticket_mask(task, lang, seed, int(sparsity))
    if PROBES[wildcards.kind]["source"] == "toy":
        inputs["world"] = TOY_WORLD
    return inputs


def probe_params(wildcards):
    """The probe's settings, with the toy world's files in place of "toy"."""
    spec = dict(PROBES[wildcards.kind])
    if spec["source"] == "toy":
        folder = (
            "parallel/{src}-{tgt}"
            if wildcards.kind == "retrieval"
            else "parallel_nli/{lang}"
        )
        spec["source"] = f"{TOY_WORLD}/{folder}"
    spec.pop(
        "tickets", None
    )  # which tickets are probed is in the path, not in the job's settings
    return {
        **spec,
        "batch_size": PROBES["batch_size"],
        "max_length": PROBES["max_length"],
    }


def retrieval_subnetworks():
    """The dense model and every ticket at probes.sparsity (each task, language and transfer seed)."""
    return [DENSE] + [
        ticket_name(task, lang, seed, PROBES["sparsity"])
        for task in TASKS
        for lang in languages(task)
        for seed in TRANSFER_SEEDS
    ]


def cca_subnetworks():
    seed = TRANSFER_SEEDS[0]
    return [DENSE] + [
        ticket_name(task, lang, seed, PROBES["sparsity"])
        for task, lang in PROBES["cca"]["tickets"]
    ]


def paper_comparison_input(wildcards):
    """This run's tables that have a published counterpart (Table 2, Tables 3-5 at 50%, Table 1)."""
    inputs = {"tickets": table("winning_tickets")}
    if TARGETS["transfer"] and 50 in TRANSFER_SPARSITIES:
        inputs["transfer"] = [table(f"{task}/transfer_sparsity50") for task in TASKS]
    if TARGETS["multilingual"]:
        inputs["multilingual"] = [
            table(f"{task}/multilingual_sparsity{sparsity_label(spec['sparsity'])}")
            for task, spec in MULTILINGUAL.items()
        ]
    return inputs


def mixture_input(wildcards):
    return {
        lang: data_dir(wildcards.task, lang)
        for lang in MULTILINGUAL[wildcards.task]["languages"]
    }


def repruned_table_input(wildcards):
    """Footnote 9 for one task: own tickets, transfers into each language, random and re-pruned runs."""
    task, s = wildcards.task, REPRUNED_SPARSITY
    langs = languages(task)
    return {
        "own": [
            f"{imp_dir(task, lang, seed, s)}/metrics.json"
            for lang in langs
            for seed in TRANSFER_SEEDS
        ],
        "transfer": [
            train_metrics(task, target, seed, source, s)
            for source in langs
            for target in langs
            if source != target
            for seed in TRANSFER_SEEDS
        ],
        "baselines": [
            train_metrics(task, lang, seed, source, s)
            for lang in langs
            for seed in TRANSFER_SEEDS
            for source in [f"{REPRUNED}{start}" for start in REPRUNED_FROM] + [RANDOM]
        ],
    }


def cross_task_runs():
    """Every task trained on each common language with its own ticket and the other tasks' tickets."""
    s = CROSS_TASK_SPARSITY
    runs = []
    for task in TASKS:
        for lang in cross_task_languages():
            for seed in TRANSFER_SEEDS:
                runs.append(f"{imp_dir(task, lang, seed, s)}/metrics.json")
                runs += [
                    train_metrics(task, lang, seed, f"{CROSS_TASK}{other}", s)
                    for other in TASKS
                    if other != task
                ]
    return runs


def multilingual_table_input(wildcards):
    """Table 1: dense and own tickets of the targets, single-language and multilingual tickets on them."""
    task = wildcards.task
    spec = MULTILINGUAL[task]
    s, targets = spec["sparsity"], spec["targets"]
    sources = spec["languages"] + [mixture_name(task)]
    return {
        "dense": [
            f"{imp_dir(task, t, seed, 0)}/metrics.json"
            for t in targets
            for seed in TRANSFER_SEEDS
        ],
        "own": [
            f"{imp_dir(task, t, seed, s)}/metrics.json"
            for t in targets
            for seed in TRANSFER_SEEDS
        ],
        "transfer": [
            train_metrics(task, t, seed, source, s)
            for source in sources
            for t in targets
            if source != t
            for seed in TRANSFER_SEEDS
        ],
    }


def transfer_matrix_input(wildcards):
    task, sparsity = wildcards.task, int(wildcards.sparsity)
    langs = languages(task)
    return {
        "dense": [
            f"{imp_dir(task, lang, seed, 0)}/metrics.json"
            for lang in langs
            for seed in SEEDS
        ],
        "diagonal": [
            f"{imp_dir(task, lang, seed, sparsity)}/metrics.json"
            for lang in langs
            for seed in SEEDS
        ],
        "transfer": [
            train_metrics(task, target, seed, source, sparsity)
            for source in langs
            for target in langs
            if source != target
            for seed in TRANSFER_SEEDS
        ],
        "random": [
            train_metrics(task, target, seed, RANDOM, sparsity)
            for target in langs
            for seed in TRANSFER_SEEDS
        ],
    }


# ---------------------------------------------------------------------------- per-rule slices of config


def training_params(wildcards):
    """The training hyperparameters of the job's task (the seed is added by the script)."""
    return dict(config["tasks"][wildcards.task]["training"])


def method_training_params(wildcards):
    """LT-SFT fine-tunes with the task's training settings; FISH does not train, so they must not rerun it."""
    return training_params(wildcards) if wildcards.method == "lt_sft" else {}


def task_options(wildcards):
    return dict(config["tasks"][wildcards.task].get("options") or {})


def data_params(wildcards):
    data = dict(config["tasks"][wildcards.task]["data"])
    if data["source"] == "toy":
        data["source"] = f"{TOY_WORLD}/{wildcards.task}/{{lang}}"
    return data


def multilingual_spec(wildcards):
    spec = MULTILINGUAL[wildcards.task]
    return {
        "sources": list(spec["languages"]),
        "targets": list(spec["targets"]),
        "mixture": mixture_name(wildcards.task),
    }


def task_languages(wildcards):
    return languages(wildcards.task)


def training_resource(name, global_name=None):
    """A resource of the training jobs: the task's override `name`, else the global value (`resources.<name>`,
    or `resources.<global_name>`: `gpu` is `gpu_per_job` there). Memory grows with each retry (`--retries`, the
    SLURM profile's `retries`), so a job killed for memory asks for more next time. A job with more than one
    GPU trains data-parallel, one process per GPU (subnets.parallel).
    """

    def get(wildcards, attempt):
        overrides = config["tasks"][wildcards.task].get("resources") or {}
        value = overrides.get(name, config["resources"][global_name or name])
        return value * attempt if name == "mem_mb" else value

    return get


def pretraining_threads():
    """The toy pre-training runs alone before everything else: `toy.threads` cores (locally capped by --cores;
    on a cluster it is what the job asks for, so it must fit a node)."""
    return config["toy"]["threads"]


def training_threads(wildcards):
    return training_resource("threads")(wildcards, attempt=1)


# ------------------------------------------------------------------------------------------------ targets


def imp_round_targets():
    """Every IMP round's metrics. Listed in `rule all` so that a deleted round is recomputed (Snakemake does not
    regenerate a missing intermediate file when everything downstream of it is present and up to date).
    """
    return [
        f"{imp_dir(task, lang, seed, s)}/metrics.json"
        for task in TASKS
        for lang in languages(task)
        for seed in SEEDS
        for s in SPARSITIES
    ]


def mixture_round_targets():
    """The rounds of the multilingual chains up to the ticket of Table 1."""
    return [
        f"{imp_dir(task, mixture_name(task), seed, s)}/metrics.json"
        for task, spec in MULTILINGUAL.items()
        for seed in TRANSFER_SEEDS
        for s in range(0, spec["sparsity"], PRUNE_PERCENT)
    ]


def transfer_targets():
    """Every cross-lingual transfer run (see imp_round_targets for why they are listed)."""
    return [
        train_metrics(task, target, seed, source, s)
        for task in TASKS
        for seed in TRANSFER_SEEDS
        for s in TRANSFER_SPARSITIES
        for source in languages(task)
        for target in languages(task)
        if source != target
    ]


def random_targets():
    """Every random sub-network run (see imp_round_targets for why they are listed)."""
    return [
        train_metrics(task, target, seed, RANDOM, s)
        for task in TASKS
        for seed in TRANSFER_SEEDS
        for s in RANDOM_SPARSITIES
        for target in languages(task)
    ]


def figures(name):
    """Both formats of a figure, when plots are switched on."""
    return [figure(name, ext) for ext in ("png", "pdf")] if TARGETS["plots"] else []


def all_targets():
    """What `rule all` asks for, driven by config switches."""
    targets = []
    if TARGETS["imp"] or TARGETS["overlap"] or TARGETS["transfer"]:
        targets += imp_round_targets()
    if TARGETS["transfer"]:
        targets += transfer_targets()
    if TARGETS["imp"]:
        targets += random_targets()
        targets += [table("winning_tickets"), table("winning_tickets", "md")]
        for task in TASKS:
            targets.append(table(f"{task}/sparsity_curve"))
            targets += figures(f"fig2_sparsity_{task}")
    if TARGETS["overlap"]:
        for task in TASKS:
            label = sparsity_label(OVERLAP_SPARSITY)
            targets.append(table(f"{task}/overlap_sparsity{label}"))
            targets += figures(f"fig3_overlap_{task}")
    if TARGETS["transfer"]:
        for task in TASKS:
            for s in TRANSFER_SPARSITIES:
                targets.append(table(f"{task}/transfer_sparsity{sparsity_label(s)}"))
                targets += figures(f"fig4_transfer_{task}_sparsity{sparsity_label(s)}")
        targets.append(table("relative_transfer_drop"))
        targets += figures("fig6_relative_drop")
    if TARGETS["repruned"]:
        label = sparsity_label(REPRUNED_SPARSITY)
        targets += [
            table(f"{task}/repruned_baselines_sparsity{label}", ext)
            for task in TASKS
            for ext in ("csv", "md")
        ]
    if TARGETS["cross_task"]:
        label = sparsity_label(CROSS_TASK_SPARSITY)
        targets += [table(f"cross_task_sparsity{label}", ext) for ext in ("csv", "md")]
        targets += figures(f"fig9_cross_task_sparsity{label}")
    if TARGETS["mask_methods"]:
        label = sparsity_label(MASK_METHODS_SPARSITY)
        targets += [
            table(f"{task}/mask_methods_sparsity{label}", ext)
            for task in TASKS
            for ext in ("csv", "md")
        ]
    if TARGETS["retrieval"]:
        targets += [table("retrieval", ext) for ext in ("csv", "md")]
        targets += figures("fig7_retrieval")
    if TARGETS["cca"]:
        targets += [table("cca", ext) for ext in ("csv", "md")]
        targets += figures("fig10_cca")
    if TARGETS["paper"]:
        targets += [table("paper_comparison", ext) for ext in ("csv", "md")]
    if TARGETS["multilingual"]:
        targets += mixture_round_targets()
        for task, spec in MULTILINGUAL.items():
            label = sparsity_label(spec["sparsity"])
            targets += [
                table(f"{task}/multilingual_sparsity{label}", ext)
                for ext in ("csv", "md")
            ]
    return targets
