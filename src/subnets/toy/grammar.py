"""The shared abstract grammar: what a sentence means, before any language writes it down.

An abstract sentence is a main :class:`Clause` with an optional reason clause ("... because ...").
A clause names one event of its verb: a subject, the verb, an object for transitive verbs, up to three
optional modifiers (an adjective on a noun object, a location "in LOC", a time word), and may be negated.
Every language realises exactly this record, so parallel data, NER spans and NLI labels are all computed on
the abstract side and stay correct by construction.

Arguments are plain strings: nouns ``"n:7"``, entities ``"per:12"``, ``"org:3"``, ``"loc:30"``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

N_NOUNS = 40
N_ADJECTIVES = 24
N_TIMES = 8
N_TRANSITIVE_VERBS = 10
N_INTRANSITIVE_VERBS = 6
N_ORG_HEADS = 5
N_LOC_HEADS = 4
N_ENTITIES = {"PER": 80, "ORG": 40, "LOC": 40}
N_GIVEN_NAMES, N_FAMILY_NAMES = 40, 30  # a person is "given" or "given family"
N_ORG_SECOND_WORDS = 5  # shared second words of two-word organisation names
# Names shared across kinds, as "Florence" or "Ford": a place named like a person, a firm named after one.
LOC_NAMED_LIKE_PERSON = 0.25
ORG_NAMED_AFTER_PERSON = 0.2

# The phonology of names: plain latin letters that every script can transliterate.
NAME_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "")
NAME_VOWELS = ("a", "e", "i", "o", "u")
NAME_CODAS = ("", "", "n", "r", "s", "l", "m")


@dataclass(frozen=True)
class Entity:
    """A named entity shared by all languages.

    ``names`` are name words in the neutral latin phonology (each language transliterates them);
    ``head`` is an optional common-noun lemma that is part of the name ("Kestor *Bank*", "Velda *Lake*") and
    is translated like any other word.
    """

    key: str
    kind: str
    names: tuple[str, ...]
    head: str | None = None


@dataclass(frozen=True)
class Lexicon:
    """The abstract lemmas and the entity pool; language-independent, built from the seed."""

    nouns: tuple[str, ...]
    adjectives: tuple[str, ...]
    times: tuple[str, ...]
    transitive_verbs: tuple[int, ...]
    intransitive_verbs: tuple[int, ...]
    entities: dict[str, Entity]

    @property
    def verbs(self) -> tuple[int, ...]:
        return self.transitive_verbs + self.intransitive_verbs

    def entity_keys(self, kind: str) -> tuple[str, ...]:
        return tuple(key for key, entity in self.entities.items() if entity.kind == kind)

    def content_lemmas(self) -> tuple[str, ...]:
        """Every translatable content lemma: nouns, adjectives, times, verbs, name heads."""
        verbs = tuple(verb_lemma(verb) for verb in self.verbs)
        heads = tuple(f"h:org:{i}" for i in range(N_ORG_HEADS)) + tuple(f"h:loc:{i}" for i in range(N_LOC_HEADS))
        return self.nouns + self.adjectives + self.times + verbs + heads


def verb_lemma(verb: int) -> str:
    """The lemma key of a verb (``"v:3"``)."""
    return f"v:{verb}"


def _name_word(rng: random.Random, syllables: int) -> str:
    word = "".join(rng.choice(NAME_ONSETS) + rng.choice(NAME_VOWELS) + rng.choice(NAME_CODAS) for _ in range(syllables))
    return word.capitalize()


def _distinct_names(rng: random.Random, count: int, used: set[str]) -> list[str]:
    names: list[str] = []
    while len(names) < count:
        word = _name_word(rng, rng.choice((2, 2, 3)))
        if len(word) >= 3 and word not in used:
            used.add(word)
            names.append(word)
    return names


def build_lexicon(rng: random.Random) -> Lexicon:
    """The abstract lemmas and an entity pool with 1 to 3 word names (so that I- tags occur).

    Some places are named like people and some organisations after people, so that a name alone does not
    always tell its kind and NER needs the context (as for "Florence" or "Ford").
    """
    used: set[str] = set()
    given = _distinct_names(rng, N_GIVEN_NAMES, used)
    family = _distinct_names(rng, N_FAMILY_NAMES, used)
    org_words = _distinct_names(rng, N_ENTITIES["ORG"], used)
    org_second = _distinct_names(rng, N_ORG_SECOND_WORDS, used)
    loc_words = _distinct_names(rng, N_ENTITIES["LOC"], used)
    entities: dict[str, Entity] = {}

    def add(kind: str, names: tuple[str, ...], head: str | None) -> None:
        if any(e.kind == kind and e.names == names and e.head == head for e in entities.values()):
            return
        key = f"{kind.lower()}:{sum(e.kind == kind for e in entities.values())}"
        entities[key] = Entity(key, kind, names, head)

    while len(entities) < N_ENTITIES["PER"]:
        add("PER", (rng.choice(given),) if rng.random() < 0.4 else (rng.choice(given), rng.choice(family)), None)
    people = [entity.names for entity in entities.values()]
    for word in org_words:  # "Kestor Bank", "Kestor Vale", "Kestor Vale Bank", "Mara Tolen Bank"
        roll = rng.random()
        names = (word,) if roll < 0.6 else (word, rng.choice(org_second))
        if rng.random() < ORG_NAMED_AFTER_PERSON:
            names = rng.choice(people)
        add("ORG", names, f"h:org:{rng.randrange(N_ORG_HEADS)}" if roll < 0.6 or roll >= 0.8 else None)
    for word in loc_words:  # "Velda", "Velda Lake", "Mara"
        if rng.random() < LOC_NAMED_LIKE_PERSON:
            word = rng.choice(given)
        add("LOC", (word,), f"h:loc:{rng.randrange(N_LOC_HEADS)}" if rng.random() < 0.3 else None)
    return Lexicon(
        nouns=tuple(f"n:{i}" for i in range(N_NOUNS)),
        adjectives=tuple(f"a:{i}" for i in range(N_ADJECTIVES)),
        times=tuple(f"t:{i}" for i in range(N_TIMES)),
        transitive_verbs=tuple(range(N_TRANSITIVE_VERBS)),
        intransitive_verbs=tuple(range(N_TRANSITIVE_VERBS, N_TRANSITIVE_VERBS + N_INTRANSITIVE_VERBS)),
        entities=entities,
    )


@dataclass(frozen=True)
class Clause:
    """One event of verb ``verb``, affirmed or (``negated``) denied."""

    subject: str
    verb: int
    negated: bool
    object: str | None = None
    adjective: str | None = None
    location: str | None = None
    time: str | None = None

    @property
    def affirms(self) -> bool:
        """Whether the clause asserts its verb's event."""
        return not self.negated

    def slots(self) -> dict[str, str]:
        """The stated participants and modifiers: what the clause constrains about its event."""
        stated = {"subject": self.subject, "object": self.object, "adjective": self.adjective}
        stated.update(location=self.location, time=self.time)
        return {name: value for name, value in stated.items() if value is not None}


@dataclass(frozen=True)
class Sentence:
    """A main clause and an optional reason clause about another verb ("main because reason")."""

    main: Clause
    reason: Clause | None = None

    @property
    def clauses(self) -> tuple[Clause, ...]:
        return (self.main,) if self.reason is None else (self.main, self.reason)

    def entities(self) -> list[str]:
        """Entity keys in the order of the abstract record (subject, object, location; main then reason)."""
        return [
            value
            for clause in self.clauses
            for value in (clause.subject, clause.object, clause.location)
            if value is not None and not value.startswith("n:")
        ]


@dataclass(frozen=True)
class SamplerStyle:
    """How often each optional part appears; text corpora and NLI premises use different styles."""

    negated: float = 0.2
    entity_subject: float = 0.75
    entity_object: float = 0.35
    adjective: float = 0.45
    location: float = 0.35
    time: float = 0.3
    reason: float = 0.15


TEXT_STYLE = SamplerStyle()
NLI_STYLE = SamplerStyle(negated=0.5, adjective=0.6, location=0.5, time=0.5, reason=0.3)


class SentenceSampler:
    """Draws abstract sentences from the lexicon with the frequencies of a :class:`SamplerStyle`."""

    def __init__(self, lexicon: Lexicon, style: SamplerStyle = TEXT_STYLE) -> None:
        self.lexicon = lexicon
        self.style = style
        self._subjects = lexicon.entity_keys("PER") + lexicon.entity_keys("ORG")
        self._objects = self._subjects + lexicon.entity_keys("LOC")
        self._locations = lexicon.entity_keys("LOC")

    def clause(self, rng: random.Random, *, exclude_verbs: tuple[int, ...] = ()) -> Clause:
        """A clause about any verb but ``exclude_verbs``."""
        style, lexicon = self.style, self.lexicon
        verb = rng.choice([v for v in lexicon.verbs if v not in exclude_verbs])
        subject = rng.choice(self._subjects) if rng.random() < style.entity_subject else rng.choice(lexicon.nouns)
        obj = adjective = None
        if verb in lexicon.transitive_verbs:
            if rng.random() < style.entity_object:
                obj = rng.choice([e for e in self._objects if e != subject])
            else:
                obj = rng.choice([noun for noun in lexicon.nouns if noun != subject])
                adjective = rng.choice(lexicon.adjectives) if rng.random() < style.adjective else None
        return Clause(
            subject=subject,
            verb=verb,
            negated=rng.random() < style.negated,
            object=obj,
            adjective=adjective,
            location=rng.choice([e for e in self._locations if e != obj]) if rng.random() < style.location else None,
            time=rng.choice(lexicon.times) if rng.random() < style.time else None,
        )

    def sentence(self, rng: random.Random, *, topic: str | None = None) -> Sentence:
        """A sentence; with ``topic`` (an entity key) the main clause mentions that entity."""
        main = self.clause(rng)
        if topic is not None and topic not in (main.subject, main.object, main.location):
            main = self._mention(rng, main, topic)
        reason = self.clause(rng, exclude_verbs=(main.verb,)) if rng.random() < self.style.reason else None
        return Sentence(main, reason)

    @staticmethod
    def _mention(rng: random.Random, clause: Clause, topic: str) -> Clause:
        """Put ``topic`` where its kind fits: places as location or object, people and organisations
        mostly as subject, sometimes as object."""
        can_be_object = clause.object is not None
        if topic.startswith("loc:"):
            if can_be_object and rng.random() < 0.5:
                return replace(clause, object=topic, adjective=None)
            return replace(clause, location=topic)
        if can_be_object and rng.random() < 0.25:
            return replace(clause, object=topic, adjective=None)
        if clause.object == topic:
            return clause
        return replace(clause, subject=topic)
