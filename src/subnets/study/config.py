"""The study's configuration as typed, torch-free dataclasses, built from the schema-validated YAML.

:func:`Study.from_config` takes the config mapping after ``snakemake.utils.validate`` has filled in the schema's
defaults, and runs every check the schema cannot express (:mod:`subnets.study.checks`); an error is a
:class:`ConfigError` naming the key. The workflow asks this object for languages, levels, seeds and sub-network
names; training hyperparameters, data and task options stay plain mappings (their own classes validate them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from subnets.study import names


class ConfigError(ValueError):
    """A config value that cannot work; ``key`` is its dotted path."""

    def __init__(self, key: str, problem: Any):
        self.key = key
        super().__init__(f"Error in config: {key}: {problem}")


def _optional_tuple(values) -> tuple | None:
    return None if values is None else tuple(values)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    languages: tuple[str, ...]
    data: Mapping[str, Any]
    training: Mapping[str, Any]
    options: Mapping[str, Any] = field(default_factory=dict)
    resources: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MultilingualSpec:
    languages: tuple[str, ...]
    targets: tuple[str, ...]
    sparsity: int

    @property
    def mixture(self) -> str:
        return names.mixture_name(self.languages)


@dataclass(frozen=True)
class Study:
    """Everything the workflow plans from. Sparsities are whole percents."""

    name: str
    model_name: str
    model_source: str
    family: str
    tasks: dict[str, TaskSpec]  # enabled tasks only, in the config's order
    seeds: tuple[int, ...]
    transfer_seeds: tuple[int, ...]
    prune_percent: int
    max_sparsity: int
    prune_from: str
    overlap_sparsity: int
    transfer_sparsities: tuple[int, ...]
    configured_random_sparsities: tuple[int, ...]
    repruned_from: tuple[int, ...]
    repruned_sparsity: int
    cross_task_sparsity: int
    configured_cross_task_languages: tuple[str, ...]
    multilingual: dict[str, MultilingualSpec]  # enabled tasks only
    mask_methods: tuple[str, ...]
    mask_methods_sparsity: int
    fish_examples: int
    configured_method_tasks: tuple[str, ...] | None
    configured_method_languages: tuple[str, ...] | None
    method_transfer: bool
    method_settings: Mapping[str, Any]  # early_bird and wanda settings
    probes: Mapping[str, Any]
    targets: Mapping[str, bool]
    resources: Mapping[str, Any]
    toy: Mapping[str, Any]
    configured_language_order: tuple[str, ...]
    configured_multilingual: Mapping[str, Any]  # as written, disabled tasks included (checked against them)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], check: bool = True) -> "Study":
        """The study of a schema-validated config; ``check`` runs the cross-field checks (ConfigError)."""
        tasks = {
            task: TaskSpec(task, tuple(spec["languages"]), dict(spec["data"]), dict(spec["training"]),
                           dict(spec.get("options") or {}), dict(spec.get("resources") or {}))  # fmt: skip
            for task, spec in config["tasks"].items()
            if spec.get("enabled", True)
        }
        analysis, imp = config["analysis"], config["imp"]
        study = cls(
            name=config["study"],
            model_name=config["model"]["name"],
            model_source=config["model"]["source"],
            family=config["model"]["family"],
            tasks=tasks,
            seeds=tuple(config["seeds"]),
            transfer_seeds=tuple(analysis["transfer_seeds"] or config["seeds"]),
            prune_percent=imp["prune_percent"],
            max_sparsity=imp["max_sparsity"],
            prune_from=imp["prune_from"],
            overlap_sparsity=analysis["overlap_sparsity"],
            transfer_sparsities=tuple(sorted(analysis["transfer_sparsities"])),
            configured_random_sparsities=tuple(analysis["random_sparsities"]),
            repruned_from=tuple(sorted(analysis["repruned_from"])),
            repruned_sparsity=analysis["repruned_sparsity"],
            cross_task_sparsity=analysis["cross_task_sparsity"],
            configured_cross_task_languages=tuple(analysis["cross_task_languages"] or ()),
            multilingual={
                task: MultilingualSpec(tuple(spec["languages"]), tuple(spec["targets"]), spec["sparsity"])
                for task, spec in config["multilingual"].items()
                if task in tasks
            },
            mask_methods=tuple(config["mask_methods"]["methods"]),
            mask_methods_sparsity=config["mask_methods"]["sparsity"],
            fish_examples=config["mask_methods"]["fish_examples"],
            configured_method_tasks=_optional_tuple(config["mask_methods"].get("tasks")),
            configured_method_languages=_optional_tuple(config["mask_methods"].get("languages")),
            method_transfer=config["mask_methods"].get("transfer", True),
            method_settings={key: dict(config["mask_methods"].get(key) or {}) for key in ("early_bird", "wanda")},
            probes=config["probes"],
            targets=dict(config["targets"]),
            resources=dict(config["resources"]),
            toy=config["toy"],
            configured_language_order=tuple(config.get("language_order") or ()),
            configured_multilingual=config["multilingual"],
        )
        if check:
            from subnets.study.checks import check_study

            check_study(study)
        return study

    # ------------------------------------------------------------------------------------------ levels

    @property
    def use_toy_model(self) -> bool:
        return self.model_source == "toy"

    @property
    def sparsities(self) -> list[int]:
        """The IMP rounds: 0, p, 2p, ... up to max_sparsity."""
        return list(range(0, self.max_sparsity + 1, self.prune_percent))

    @property
    def top_ticket(self) -> int:
        """The sparsest ticket the chains reach: the last round leaves the mask at max_sparsity + p."""
        return self.max_sparsity + self.prune_percent

    def is_ticket_level(self, sparsity: int) -> bool:
        """Whether IMP yields a ticket at ``sparsity``: a multiple of p in (0, top_ticket]."""
        return sparsity % self.prune_percent == 0 and 0 < sparsity <= self.top_ticket

    @property
    def random_sparsities(self) -> list[int]:
        """Random sub-networks: at the configured levels (Table 2 "rand"), and at the transfer levels when
        transfer is on."""
        levels = set(self.configured_random_sparsities)
        if self.targets["transfer"]:
            levels |= set(self.transfer_sparsities)
        return sorted(levels)

    @property
    def uses_toy_world(self) -> bool:
        """Whether every task reads the toy world, whose planted relations the phantom table checks."""
        return all(spec.data["source"] == "toy" for spec in self.tasks.values())

    @property
    def phantom_transfer_sparsity(self) -> int:
        """The transfer level the phantom reads: the overlap sparsity when transferred there, else the first."""
        levels = self.transfer_sparsities
        return self.overlap_sparsity if self.overlap_sparsity in levels else levels[0]

    # --------------------------------------------------------------------------------------- languages

    def languages(self, task: str) -> list[str]:
        """The languages of ``task``, in the config's order."""
        return list(self.tasks[task].languages)

    @property
    def language_order(self) -> list[str]:
        """Every language of the study in one fixed order (config language_order, else first appearance)."""
        order = list(self.configured_language_order)
        for task in self.tasks:
            order += [lang for lang in self.languages(task) if lang not in order]
        return order

    @property
    def common_languages(self) -> list[str]:
        """Languages that every task of the study has, in the study's order."""
        return [lang for lang in self.language_order if all(lang in self.languages(t) for t in self.tasks)]

    @property
    def cross_task_languages(self) -> list[str]:
        """The languages of the cross-task runs (appendix C): configured, else all common ones."""
        return list(self.configured_cross_task_languages or self.common_languages)

    def mixture_name(self, task: str) -> str:
        return self.multilingual[task].mixture

    def is_mixture(self, task: str, name: str) -> bool:
        return task in self.multilingual and name == self.mixture_name(task)

    # ----------------------------------------------------------------------------------- sub-networks

    def probed_subnetworks(self, kind: str) -> list[str]:
        """What a zero-shot probe reads, dense model first: for ``retrieval`` every ticket at probes.sparsity (each
        task, language and transfer seed); for ``cca`` the configured tickets of the first transfer seed."""
        s, seeds = self.probes["sparsity"], self.transfer_seeds
        if kind == "retrieval":
            tickets = [(t, lang, seed) for t in self.tasks for lang in self.languages(t) for seed in seeds]
        else:
            tickets = [(t, lang, seeds[0]) for t, lang in self.probes["cca"]["tickets"]]
        return [names.DENSE] + [names.ticket_name(t, lang, seed, s) for t, lang, seed in tickets]

    @property
    def repruned_sources(self) -> list[str]:
        """Footnote 9's baselines as source names, then the random sub-network."""
        return [names.format_source(names.Source("repruned", start=s)) for s in self.repruned_from] + [names.RANDOM]

    def source(self, task: str, name: str) -> names.Source:
        """The parsed source of a training run of ``task``; ValueError when the study has no such sub-network."""
        parsed = names.parse_source(name)
        if parsed.kind == "cross_task" and (parsed.task not in self.tasks or parsed.task == task):
            raise ValueError(f"{name!r}: {parsed.task!r} is not another task of the study")
        if parsed.kind == "method" and parsed.method not in self.mask_methods:
            raise ValueError(f"{name!r}: mask method not in mask_methods.methods {list(self.mask_methods)}")
        if parsed.kind == "method" and parsed.language is not None and parsed.language not in self.languages(task):
            raise ValueError(f"{name!r}: {parsed.language!r} is not a language of task {task}")
        if parsed.kind == "ticket" and not (name in self.languages(task) or self.is_mixture(task, name)):
            raise ValueError(
                f"{name!r} is neither a language of task {task}, nor {names.RANDOM!r}, {names.REPRUNED_PREFIX}NN, "
                f"{names.CROSS_TASK_PREFIX}TASK, a mask method or the task's multilingual mixture"
            )
        return parsed

    # ----------------------------------------------------------------------------- other ways to a ticket

    @property
    def method_tasks(self) -> list[str]:
        """The tasks whose masks the mask methods find: mask_methods.tasks, else every task."""
        return [t for t in self.tasks if self.configured_method_tasks is None or t in self.configured_method_tasks]

    def method_languages(self, task: str) -> list[str]:
        """The languages of ``task`` the mask methods run on: mask_methods.languages, else all."""
        chosen = self.configured_method_languages
        return [lang for lang in self.languages(task) if chosen is None or lang in chosen]

    def method_options(self, method: str) -> dict[str, Any]:
        """The settings a method's mask depends on (its rule's params: editing another's reruns nothing)."""
        if method == "fish":
            return {"examples": self.fish_examples}
        if method == "oneshot":
            return {"prune_from": self.prune_from}
        return dict(self.method_settings.get(method, {}))

    @staticmethod
    def method_trains(method: str) -> bool:
        """Whether finding the method's mask trains (and so depends on the task's training settings)."""
        return method in ("lt_sft", "oneshot", "early_bird")

    def mask_methods_inputs(self, task: str) -> dict[str, list[tuple]]:
        """Appendix D's table of ``task``: dense and IMP rounds, and each method's mask trained on its language, as
        (kind, *arguments) entries that common.smk turns into paths (round, ticket, train, mask)."""
        s, seeds, langs = self.mask_methods_sparsity, self.transfer_seeds, self.method_languages(task)
        return {
            "rounds": [("round", task, l, seed, level) for l in langs for seed in seeds for level in (0, s)],
            "trained": [("train", task, l, seed, m, s) for m in self.mask_methods for l in langs for seed in seeds],
        }

    def ticket_methods_inputs(self, task: str) -> dict[str, list[tuple]]:
        """What the ticket_methods comparison of ``task`` reads: the masks (each method's and IMP's tickets), the
        dense rounds of every seed (the winning-ticket band), the IMP rounds at the sparsity, each method's mask
        trained on its own language, and, with mask_methods.transfer, every mask of one language trained on each
        other language (IMP's tickets and each method's)."""
        s, seeds, langs = self.mask_methods_sparsity, self.transfer_seeds, self.method_languages(task)
        methods = self.mask_methods
        found = {
            "masks": [("mask", m, task, l, seed, s) for m in methods for l in langs for seed in seeds],
            "tickets": [("ticket", task, l, seed, s) for l in langs for seed in seeds],
            "dense": [("round", task, l, seed, 0) for l in langs for seed in self.seeds],
            "imp": [("round", task, l, seed, s) for l in langs for seed in seeds],
            "own": [("train", task, l, seed, m, s) for m in methods for l in langs for seed in seeds],
            "transfer": [],
        }
        if self.method_transfer:
            sources = [(src, src) for src in langs]
            sources += [(names.method_source(m, src), src) for m in methods for src in langs]
            found["transfer"] = [("train", task, tgt, seed, name, s)
                                 for name, src in sources for tgt in langs if tgt != src for seed in seeds]  # fmt: skip
        return found
