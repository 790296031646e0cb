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
    order = config.get("language_order")
    if order:
        missing = [lang for lang in language_order() if lang not in order]
        if missing:
            raise _config_error(
                "language_order", f"lacks language(s) {missing} used by tasks"
            )
    for task in TASKS:
        spec = config["tasks"][task]
        if RANDOM in spec["languages"]:
            raise _config_error(
                f"tasks.{task}.languages", f"{RANDOM!r} is a reserved name"
            )
        if "seed" in spec["training"]:
            raise _config_error(
                f"tasks.{task}.training.seed",
                "run seeds come from the top-level key `seeds`",
            )
        _check_languages(task, spec)
        _check_task_options(task, spec.get("options") or {})


def _check_task_options(task, options):
    """Build the task adapter once (cheap: no torch import) so that an unknown option fails now."""
    import dataclasses

    from subnets.tasks import get_task

    try:
        get_task(task, **options)
    except TypeError:
        known = [f.name for f in dataclasses.fields(get_task(task))]
        unknown = sorted(set(options) - set(known))
        raise _config_error(
            f"tasks.{task}.options", f"unknown option(s) {unknown}; known: {known}"
        ) from None
    except ValueError as err:
        raise _config_error(f"tasks.{task}.options", err) from None


# ------------------------------------------------------------------------------------------------- paths


def data_dir(task, lang):
    return f"{RESOURCES}/data/{task}/{lang}"


def imp_dir(task, lang, seed, sparsity):
    return f"{RESULTS}/imp/{task}/{lang}/seed{seed}/sparsity{sparsity_label(sparsity)}"


def ticket_mask(task, lang, seed, sparsity):
    """The IMP mask of (task, lang, seed) at ``sparsity``: the next mask of the round before it."""
    return f"{imp_dir(task, lang, seed, int(sparsity) - PRUNE_PERCENT)}/next_mask.safetensors"


def random_mask_path(task, seed, sparsity):
    return f"{RESULTS}/masks/random/{task}/seed{seed}/sparsity{sparsity_label(sparsity)}.safetensors"


def train_metrics(task, lang, seed, source, sparsity):
    label = sparsity_label(sparsity)
    return f"{RESULTS}/train/{task}/{lang}/seed{seed}/{source}-sparsity{label}/metrics.json"


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
        for seed in SEEDS
        for s in RANDOM_SPARSITIES
    ]


def overlap_masks(wildcards):
    task = wildcards.task
    return [
        ticket_mask(task, lang, seed, OVERLAP_SPARSITY)
        for lang in languages(task)
        for seed in SEEDS
    ]


def subnetwork_input(wildcards):
    """theta0, the target language's data and the mask: a ticket of the source language, or a random one."""
    inputs = {"model": MODEL_DIR, "data": data_dir(wildcards.task, wildcards.lang)}
    if wildcards.source == RANDOM:
        inputs["mask"] = random_mask_path(
            wildcards.task, wildcards.seed, wildcards.sparsity
        )
    else:
        if wildcards.source not in languages(wildcards.task):
            raise WorkflowError(
                f"{wildcards.source!r} is not a language of task {wildcards.task}"
            )
        inputs["mask"] = ticket_mask(
            wildcards.task, wildcards.source, wildcards.seed, wildcards.sparsity
        )
    return inputs


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
            for seed in SEEDS
        ],
        "random": [
            train_metrics(task, target, seed, RANDOM, sparsity)
            for target in langs
            for seed in SEEDS
        ],
    }


# ---------------------------------------------------------------------------- per-rule slices of config


def training_params(wildcards):
    """The training hyperparameters of the job's task (the seed is added by the script)."""
    return dict(config["tasks"][wildcards.task]["training"])


def task_options(wildcards):
    return dict(config["tasks"][wildcards.task].get("options") or {})


def data_params(wildcards):
    data = dict(config["tasks"][wildcards.task]["data"])
    if data["source"] == "toy":
        data["source"] = f"{TOY_WORLD}/{wildcards.task}/{{lang}}"
    return data


def task_languages(wildcards):
    return languages(wildcards.task)


def training_resource(name):
    """A resource of the training jobs: the task's override, else the global value."""

    def get(wildcards):
        overrides = config["tasks"][wildcards.task].get("resources") or {}
        return overrides.get(name, config["resources"][name])

    return get


def training_threads(wildcards):
    return training_resource("threads")(wildcards)


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


def transfer_targets():
    """Every cross-lingual transfer run (see imp_round_targets for why they are listed)."""
    return [
        train_metrics(task, target, seed, source, s)
        for task in TASKS
        for seed in SEEDS
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
        for seed in SEEDS
        for s in RANDOM_SPARSITIES
        for target in languages(task)
    ]


def all_targets():
    """What `rule all` asks for, driven by config switches."""
    targets = []
    if TARGETS["imp"] or TARGETS["overlap"] or TARGETS["transfer"]:
        targets += imp_round_targets()
    if TARGETS["transfer"]:
        targets += transfer_targets()
    if TARGETS["imp"]:
        targets += random_targets()
        targets.append(table("winning_tickets"))
        targets.append(table("winning_tickets", "md"))
        for task in TASKS:
            targets.append(table(f"{task}/sparsity_curve"))
            if TARGETS["plots"]:
                targets += [
                    figure(f"fig2_sparsity_{task}", ext) for ext in ("png", "pdf")
                ]
    if TARGETS["overlap"]:
        for task in TASKS:
            targets.append(
                table(f"{task}/overlap_sparsity{sparsity_label(OVERLAP_SPARSITY)}")
            )
            if TARGETS["plots"]:
                targets += [
                    figure(f"fig3_overlap_{task}", ext) for ext in ("png", "pdf")
                ]
    if TARGETS["transfer"]:
        for task in TASKS:
            for s in TRANSFER_SPARSITIES:
                targets.append(table(f"{task}/transfer_sparsity{sparsity_label(s)}"))
                if TARGETS["plots"]:
                    targets += [
                        figure(f"fig4_transfer_{task}_sparsity{sparsity_label(s)}", ext)
                        for ext in ("png", "pdf")
                    ]
        targets.append(table("relative_transfer_drop"))
        if TARGETS["plots"]:
            targets += [figure("fig6_relative_drop", ext) for ext in ("png", "pdf")]
    return targets
