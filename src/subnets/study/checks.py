"""What the schema cannot say: cross-field checks of a :class:`~subnets.study.config.Study`.

Each check raises :class:`~subnets.study.config.ConfigError` naming the key. Everything here is cheap and
torch-free (the toy and task config classes it builds import no torch), so a dry run of the paper's grid stays
fast.
"""

from __future__ import annotations

import dataclasses
import os
import re

from subnets.study import names
from subnets.study.config import ConfigError, Study


def check_study(study: Study) -> None:
    _check_names(study)
    if not study.tasks:
        raise ConfigError("tasks", "every task is disabled")
    _check_levels(study)
    if study.targets["transfer"]:
        for value in study.transfer_sparsities:
            if not 0 < value <= study.max_sparsity:
                raise ConfigError(
                    "analysis.transfer_sparsities", f"{value} must lie in (0, imp.max_sparsity = {study.max_sparsity}]"
                )
    bad = [seed for seed in study.transfer_seeds if seed not in study.seeds]
    if bad:
        raise ConfigError("analysis.transfer_seeds", f"{bad} are not in `seeds` ({list(study.seeds)})")
    if study.configured_language_order:
        missing = [lang for lang in study.language_order if lang not in study.configured_language_order]
        if missing:
            raise ConfigError("language_order", f"lacks language(s) {missing} used by tasks")
    for task, spec in study.tasks.items():
        if "seed" in spec.training:
            raise ConfigError(f"tasks.{task}.training.seed", "run seeds come from the top-level key `seeds`")
        _check_languages(study, task)
        _check_task_options(study, task)
    _check_model(study)
    _check_ticket_levels(study)
    _check_multilingual(study)
    _check_probes(study)
    _check_mask_methods(study)


def _safe(key: str, name: str) -> None:
    if not names.is_safe_component(name):
        raise ConfigError(
            key,
            f"{name!r} becomes a folder name: use letters, digits, '_', '.' and '-', not starting with '.' "
            "(so never '.' or '..')",
        )


def _check_names(study: Study) -> None:
    """Every name that becomes a path component must be one safe component; languages must not read as
    another kind of sub-network."""
    _safe("study", study.name)
    _safe("model.name", study.model_name)
    for task, spec in study.tasks.items():
        key = f"tasks.{task}.languages"
        for lang in spec.languages:
            _safe(key, lang)
        reserved = [lang for lang in spec.languages if names.reserved(lang)]
        if reserved:
            raise ConfigError(
                key,
                f"{reserved}: {names.DENSE!r}, {names.RANDOM!r}, {names.REPRUNED_PREFIX}NN, "
                f"{names.CROSS_TASK_PREFIX}*, {' and '.join(names.MASK_METHODS)} name sub-networks",
            )
    for task, spec in study.configured_multilingual.items():
        for field in ("languages", "targets"):
            for lang in spec[field]:
                _safe(f"multilingual.{task}.{field}", lang)


def _check_levels(study: Study) -> None:
    p = study.prune_percent
    if study.max_sparsity % p:
        raise ConfigError("imp.max_sparsity", f"{study.max_sparsity} is not a multiple of imp.prune_percent ({p})")
    for key, values in (
        ("analysis.overlap_sparsity", [study.overlap_sparsity]),
        ("analysis.transfer_sparsities", study.transfer_sparsities),
        ("analysis.random_sparsities", study.configured_random_sparsities),
    ):
        for value in values:
            if value % p:
                raise ConfigError(key, f"{value} is not a multiple of imp.prune_percent ({p})")
    if study.targets["overlap"] and not 0 < study.overlap_sparsity <= study.top_ticket:
        raise ConfigError(
            "analysis.overlap_sparsity",
            f"{study.overlap_sparsity} needs masks that IMP does not reach (max_sparsity {study.max_sparsity})",
        )


def _level_error(study: Study, key: str, value: int) -> ConfigError:
    return ConfigError(
        key,
        f"{value} is not an IMP level: levels are multiples of imp.prune_percent ({study.prune_percent}) "
        f"up to {study.top_ticket} (imp.max_sparsity + prune_percent)",
    )


def toy_language_codes(study: Study) -> tuple[str, ...]:
    """Codes of the toy world's languages (validates the world config on the way)."""
    from subnets.toy.config import WorldConfig

    world = dict(study.toy["world"])
    for key in ("sentences_per_doc", "languages"):
        if isinstance(world.get(key), list):
            world[key] = tuple(world[key])
    try:
        return WorldConfig(**world).language_codes
    except (TypeError, ValueError) as err:
        raise ConfigError("toy.world", err) from None


def _check_languages(study: Study, task: str) -> None:
    spec = study.tasks[task]
    source, key = spec.data["source"], f"tasks.{task}.languages"
    if source == "toy":
        available = toy_language_codes(study)
        missing = [lang for lang in spec.languages if lang not in available]
        if missing:
            raise ConfigError(key, f"the toy world has no language(s) {missing}; its languages: {' '.join(available)}")
    elif source == "hub":
        from subnets.data import hub

        lists = {"ner": (hub.WIKIANN_ID, hub.WIKIANN_LANGUAGES), "nli": (hub.XNLI_ID, hub.XNLI_LANGUAGES)}
        if task in lists:
            dataset, available = lists[task]
            missing = [lang for lang in spec.languages if lang not in available]
            if missing:
                raise ConfigError(key, f"{dataset} has no language(s) {missing}; available: {' '.join(available)}")
        else:
            bad = [lang for lang in spec.languages if not re.fullmatch(r"[a-z]{2,3}(-[a-z0-9]+)*", lang)]
            if bad:
                raise ConfigError(key, f"not Wikipedia language codes: {bad}")
    else:
        paths = source.values() if isinstance(source, dict) else [source]
        for lang in spec.languages:
            for path in paths:
                local = path.replace("{lang}", lang)
                if not os.path.exists(local):
                    raise ConfigError(
                        f"tasks.{task}.data.source", f"no data for language {lang!r}: {local} does not exist"
                    )


def _check_model(study: Study) -> None:
    """What an encoder-decoder study can run, the toy model's keys for the family, and a local source's presence."""
    targets = study.targets
    if study.family == "t5":
        probes = [name for name in ("retrieval", "cca") if targets[name]]
        if probes:
            raise ConfigError(
                f"targets.{probes[0]}",
                "the zero-shot probes read encoder layers of BERT models; switch them off for model.family t5",
            )
    if study.use_toy_model:
        from subnets.toy.pretrain import TOY_MODEL_FAMILIES, toy_model_config_class

        if study.family not in TOY_MODEL_FAMILIES:
            raise ConfigError(
                "model.source",
                f"'toy' has no toy model for model.family {study.family} (toy models: "
                f"{', '.join(TOY_MODEL_FAMILIES)}); give a pre-trained model (a hub id or a local directory)",
            )
        try:
            toy_model_config_class(study.family).from_dict(study.toy["model"])
        except (TypeError, ValueError) as err:
            raise ConfigError(f"toy.model (model.family {study.family})", err) from None
    else:
        from subnets.theta0 import resolve_pretrained

        try:  # a hub id passes; a path that is no model directory does not
            resolve_pretrained(study.model_source)
        except FileNotFoundError as err:
            raise ConfigError("model.source", err) from None


def _check_ticket_levels(study: Study) -> None:
    """Baselines and cross-task runs need tickets that the IMP chains reach."""
    checks = []
    if study.targets["repruned"]:
        checks += [("analysis.repruned_sparsity", [study.repruned_sparsity]),
                   ("analysis.repruned_from", study.repruned_from)]  # fmt: skip
        for value in study.repruned_from:
            if value >= study.repruned_sparsity:
                raise ConfigError(
                    "analysis.repruned_from",
                    f"{value} is not below analysis.repruned_sparsity ({study.repruned_sparsity})",
                )
    if study.targets["cross_task"]:
        checks.append(("analysis.cross_task_sparsity", [study.cross_task_sparsity]))
        tasks = list(study.tasks)
        if len(tasks) < 2:
            raise ConfigError("targets.cross_task", "needs at least two enabled tasks")
        if not study.cross_task_languages:
            raise ConfigError("targets.cross_task", f"no language is common to the tasks {tasks}")
        missing = [lang for lang in study.cross_task_languages if lang not in study.common_languages]
        if missing:
            raise ConfigError("analysis.cross_task_languages", f"{missing} are not languages of every task {tasks}")
    for key, values in checks:
        for value in values:
            if not study.is_ticket_level(value):
                raise _level_error(study, key, value)


def _check_multilingual(study: Study) -> None:
    if study.targets["multilingual"] and not study.multilingual:
        raise ConfigError("targets.multilingual", "is on, but `multilingual` names no enabled task")
    for task, spec in study.configured_multilingual.items():
        key = f"multilingual.{task}"
        if task not in study.tasks:
            raise ConfigError(key, f"{task} is not an enabled task")
        for field in ("languages", "targets"):
            missing = [lang for lang in spec[field] if lang not in study.languages(task)]
            if missing:
                raise ConfigError(f"{key}.{field}", f"{missing} are not languages of tasks.{task}")
        mixture = study.mixture_name(task)
        if mixture in study.languages(task):
            raise ConfigError(f"{key}.languages", f"the mixture name {mixture!r} is a language")
        if not study.is_ticket_level(spec["sparsity"]):
            raise ConfigError(
                f"{key}.sparsity",
                f"{spec['sparsity']} is not an IMP level (multiples of {study.prune_percent} up to {study.top_ticket})",
            )


def _check_probes(study: Study) -> None:
    probes, targets = study.probes, study.targets
    if (targets["retrieval"] or targets["cca"]) and not study.is_ticket_level(probes["sparsity"]):
        raise ConfigError(
            "probes.sparsity",
            f"{probes['sparsity']} is not an IMP level (multiples of {study.prune_percent} up to {study.top_ticket})",
        )
    uses_toy = "toy" in (probes["retrieval"]["source"], probes["cca"]["source"])
    toy = toy_language_codes(study) if uses_toy else ()
    if targets["retrieval"] and probes["retrieval"]["source"] == "toy":
        for src, tgt in probes["retrieval"]["pairs"]:
            if src != toy[0] or tgt not in toy[1:]:
                raise ConfigError(
                    "probes.retrieval.pairs",
                    f"[{src}, {tgt}]: the toy world's parallel pairs are [{toy[0]}, X] for X in {list(toy[1:])}",
                )
    if targets["cca"]:
        cca = probes["cca"]
        if cca["source"] == "toy":
            missing = [lang for lang in [cca["reference"], *cca["languages"]] if lang not in toy]
            if missing:
                raise ConfigError("probes.cca.languages", f"the toy world has no {missing}")
        for task, lang in cca["tickets"]:
            if task not in study.tasks or lang not in study.languages(task):
                raise ConfigError("probes.cca.tickets", f"[{task}, {lang}] is not a task and one of its languages")


def _check_mask_methods(study: Study) -> None:
    if not study.targets["mask_methods"]:
        return
    if not study.mask_methods:
        raise ConfigError("targets.mask_methods", "is on, but mask_methods.methods is empty")
    s = study.mask_methods_sparsity
    if s % study.prune_percent or not 0 < s <= study.max_sparsity:
        raise ConfigError(
            "mask_methods.sparsity",
            f"{s} must be the level of an IMP round (multiples of {study.prune_percent} up to imp.max_sparsity = "
            f"{study.max_sparsity}), to compare with the ticket trained there",
        )
    for task in study.configured_method_tasks or ():
        if task not in study.tasks:
            raise ConfigError("mask_methods.tasks", f"{task!r} is not an enabled task ({list(study.tasks)})")
    for task in study.method_tasks:
        missing = [lang for lang in study.configured_method_languages or () if lang not in study.languages(task)]
        if missing:
            raise ConfigError("mask_methods.languages", f"{missing} are not languages of task {task}")


def _check_task_options(study: Study, task: str) -> None:
    """Build the task adapter once (cheap: no torch import) so that an unknown option fails now."""
    from subnets.tasks import get_task

    options = study.tasks[task].options
    try:
        plain = get_task(task, study.family)
    except ValueError as err:
        raise ConfigError(f"tasks.{task}", err) from None
    try:
        get_task(task, study.family, **options)
    except TypeError:
        known = [f.name for f in dataclasses.fields(plain)]
        unknown = sorted(set(options) - set(known))
        raise ConfigError(f"tasks.{task}.options", f"unknown option(s) {unknown}; known: {known}") from None
    except ValueError as err:
        raise ConfigError(f"tasks.{task}.options", err) from None
