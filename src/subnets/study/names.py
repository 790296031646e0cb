"""What sub-networks are called: one ``parse`` / ``format`` pair for every kind of source of a mask.

A training run's *source* names the mask it trains: a language's ticket (``t0``, ``en``), a multilingual
mixture's ticket (``en-fa-fr-zh``), a random sub-network (``random``), a ticket pruned on at random
(``repruned20``: footnote 9), another task's ticket carried over (``task-ner``: appendix C), or a mask of another
method: the target language's own (``lt_sft``, ``fish``, ``wanda``) or another language's (``wanda.t1``: language
t1's wanda mask, :data:`METHOD_OF_LANGUAGE`). The dense model is ``dense``. A probed ticket is ``{task}/{lang}/seed{seed}-sparsity{NN}``.
These names become path components, so a language may never be spelled like any other kind (:func:`reserved`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

DENSE = "dense"
RANDOM = "random"
REPRUNED_PREFIX = "repruned"
CROSS_TASK_PREFIX = "task-"
# Other ways to a ticket than IMP (which is every language's own ticket, the reference): appendix D's LT-SFT and
# FISH, and the cheaper ones: one-shot magnitude pruning of the dense peak, early-bird masks, Wanda.
MASK_METHODS = ("lt_sft", "fish", "oneshot", "early_bird", "wanda")
IMP = "imp"
METHOD_OF_LANGUAGE = "."  # "wanda.t1": language t1's wanda mask (trained on another language: transfer)

Kind = Literal["ticket", "random", "repruned", "cross_task", "method"]

_PROBED = re.compile(r"([^/]+)/([^/]+)/seed(\d+)-sparsity(\d+)")


@dataclass(frozen=True)
class Source:
    """A parsed source name. ``language`` names the ticket's language or mixture (kind ``ticket``);
    ``start`` the sparsity a re-pruned ticket starts from; ``task`` the carried-over ticket's task;
    ``method`` the mask method, with ``language`` when it is another language's mask."""

    kind: Kind
    language: str | None = None
    start: int | None = None
    task: str | None = None
    method: str | None = None

    def __str__(self) -> str:
        return format_source(self)


def parse_source(name: str) -> Source:
    """The kind of sub-network ``name`` denotes (syntax only; whether the language exists is the study's affair)."""
    if name == RANDOM:
        return Source("random")
    if name in MASK_METHODS:
        return Source("method", method=name)
    method, dot, language = name.partition(METHOD_OF_LANGUAGE)
    if dot and method in MASK_METHODS and language:
        return Source("method", language=language, method=method)
    repruned = re.fullmatch(rf"{REPRUNED_PREFIX}(\d+)", name)
    if repruned:
        return Source("repruned", start=int(repruned.group(1)))
    if name.startswith(CROSS_TASK_PREFIX):
        return Source("cross_task", task=name[len(CROSS_TASK_PREFIX) :])
    return Source("ticket", language=name)


def format_source(source: Source) -> str:
    """The name of ``source``: the inverse of :func:`parse_source`."""
    if source.kind == "random":
        return RANDOM
    if source.kind == "method":
        return str(source.method) + ("" if source.language is None else f"{METHOD_OF_LANGUAGE}{source.language}")
    if source.kind == "repruned":
        return f"{REPRUNED_PREFIX}{source.start}"
    if source.kind == "cross_task":
        return f"{CROSS_TASK_PREFIX}{source.task}"
    return str(source.language)


def reserved(name: str) -> bool:
    """Whether ``name`` would read as something other than a language's ticket (or as the dense model)."""
    return name == DENSE or parse_source(name).kind != "ticket"


def sparsity_label(sparsity: int) -> str:
    """Sparsity in percent as it appears in paths and table names: two digits ("05", "50")."""
    return f"{int(sparsity):02d}"


def ticket_name(task: str, language: str, seed: int, sparsity: int) -> str:
    """A probed ticket's name, also its path below the probe folder."""
    return f"{task}/{language}/seed{seed}-sparsity{sparsity_label(sparsity)}"


def parse_ticket_name(name: str) -> tuple[str, str, int, int]:
    """``(task, language, seed, sparsity)`` of :func:`ticket_name`; ValueError for anything else."""
    match = _PROBED.fullmatch(name)
    if match is None:
        raise ValueError(f"{name!r} names no ticket (expected TASK/LANG/seedN-sparsityNN or {DENSE!r})")
    task, language, seed, sparsity = match.groups()
    return task, language, int(seed), int(sparsity)


def mixture_name(languages) -> str:
    """A multilingual ticket's name: its languages joined as in the paper's Table 1 ("en-fa-fr-zh")."""
    return "-".join(languages)


SAFE_COMPONENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def is_safe_component(name: str) -> bool:
    """A name that may become one path component: letters, digits, ``_ . -``, not starting with a dot (so never
    ``.``, ``..`` or a hidden file) and without a separator."""
    return isinstance(name, str) and SAFE_COMPONENT.fullmatch(name) is not None


def method_source(method: str, language: str | None = None) -> str:
    """The source name of ``method``'s mask: the target language's own (``language`` None) or ``language``'s."""
    return format_source(Source("method", language=language, method=method))
