"""NLI items (premise, hypothesis, label) built on the abstract side, without shallow cues to the label.

The label is drawn first; the hypothesis is one clause made from a clause of the premise (the *source*: the
main clause, or the reason clause for half of the premises that have one). See :mod:`subnets.toy.semantics`
for what the labels mean. The source is made to affirm (with probability ``SOURCE_AFFIRMS``) or deny, then:

* entailment and contradiction, from an affirmed source: drop any modifiers, then affirm (entailment) or
  deny (contradiction) the rest; or swap one participant or modifier (drop/add others), then deny
  (entailment) or affirm (contradiction). From a denied source: add any modifiers, then deny (entailment,
  premise and hypothesis negated together) or affirm (contradiction).
* neutral, affirmed or denied by a coin flip: from an affirmed source, state a modifier it does not, or talk
  about another event (another verb with the same participants); from a denied source, swap a
  participant or modifier, leave out a denied modifier, or talk about another event.

"Deny" is "not" or "fail to", by a coin flip, and "not fail to" affirms, so the word "not" says nothing about
the meaning.
With ``SOURCE_AFFIRMS * DROP_SHARE = 1/2``, every label's hypotheses affirm half of the time, and the premise
is drawn before and independently of the label, so neither sentence alone tells the label.

Finally, items are kept in *balanced blocks*: an item waits until an item of each other label with the same
:func:`block_key` (the hypothesis' object kind and modifiers, the token lengths of premise and hypothesis in
every language) has been drawn, and the three are kept together. Anything computable from those alone is
independent of the label by construction.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from subnets.toy.grammar import NLI_STYLE, Clause, Lexicon, Sentence, SentenceSampler
from subnets.toy.languages import length_key, name_length
from subnets.toy.semantics import CONTRADICTION, ENTAILMENT, NEUTRAL, nli_label

MODIFIERS = ("adjective", "location", "time")
LABELS = (ENTAILMENT, NEUTRAL, CONTRADICTION)
SOURCE_AFFIRMS = 0.8  # share of affirmed source clauses
# Share of "drop modifiers" among entailments and contradictions from affirmed sources. The affirming
# entailments are exactly these, and the affirming contradictions are all others, so this share makes half of
# the hypotheses of every label affirm.
DROP_SHARE = 1 / (2 * SOURCE_AFFIRMS)


@dataclass(frozen=True)
class NLIItem:
    """One abstract NLI example; ``id`` is shared by its realisations in all languages."""

    id: str
    premise: Sentence
    hypothesis: Sentence
    label: int


class _Editor:
    """Edits of a clause's stated slots, or of its verb."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon
        subjects = lexicon.entity_keys("PER") + lexicon.entity_keys("ORG")
        self.pools = {
            "subject": subjects,
            "object": subjects + lexicon.entity_keys("LOC"),
            "adjective": lexicon.adjectives,
            "location": lexicon.entity_keys("LOC"),
            "time": lexicon.times,
        }

    @staticmethod
    def present(clause: Clause) -> list[str]:
        return [name for name in MODIFIERS if getattr(clause, name) is not None]

    @staticmethod
    def absent(clause: Clause) -> list[str]:
        noun_object = clause.object is not None and clause.object.startswith("n:")
        return [name for name in MODIFIERS if getattr(clause, name) is None and (name != "adjective" or noun_object)]

    def add(self, rng: random.Random, clause: Clause, slot: str) -> Clause:
        """State modifier ``slot`` with a random value."""
        return replace(clause, **{slot: rng.choice(self.pools[slot])})

    def drop_some(self, rng: random.Random, clause: Clause, share: float = 0.5, keep: str = "") -> Clause:
        """Drop each stated modifier but ``keep`` with probability ``share``: the result states nothing new."""
        for slot in self.present(clause):
            if slot != keep and rng.random() < share:
                clause = replace(clause, **{slot: None})
        return clause

    def add_some(self, rng: random.Random, clause: Clause, share: float = 0.5, skip: tuple[str, ...] = ()) -> Clause:
        """Add each missing modifier but ``skip`` with probability ``share``: the result keeps everything
        stated (skip the slots dropped before, or a dropped modifier comes back with another value)."""
        for slot in self.absent(clause):
            if slot not in skip and rng.random() < share:
                clause = self.add(rng, clause, slot)
        return clause

    def stated(self, clause: Clause) -> list[str]:
        return ["subject"] + (["object"] if clause.object is not None else []) + self.present(clause)

    def swap(self, rng: random.Random, clause: Clause, among: list[str] | None = None) -> tuple[Clause, str]:
        """Change one stated participant or modifier (``among`` those, by default any), to a name of the same
        length where there is one; return the clause and the changed slot."""
        slot = rng.choice(among or self.stated(clause))
        current = getattr(clause, slot)
        if current.startswith("n:"):
            pool = self.lexicon.nouns
        else:
            pool = self.pools[slot]
        taken = {current, clause.subject, clause.object}
        candidates = [value for value in pool if value not in taken]
        if current in self.lexicon.entities:
            length = name_length(self.lexicon.entities[current])
            same = [value for value in candidates if name_length(self.lexicon.entities[value]) == length]
            candidates = same or candidates
        return replace(clause, **{slot: rng.choice(candidates)}), slot

    def other_verb(self, rng: random.Random, clause: Clause, premise: Sentence) -> Clause:
        """The same participants with a verb of the same valency that the premise does not mention."""
        used = {c.verb for c in premise.clauses}
        lexicon = self.lexicon
        same_valency = (
            lexicon.transitive_verbs if clause.verb in lexicon.transitive_verbs else lexicon.intransitive_verbs
        )
        return replace(clause, verb=rng.choice([verb for verb in same_valency if verb not in used]))


def with_meaning(rng: random.Random, clause: Clause, affirms: bool) -> Clause:
    """Fix what a clause means; whether it says "not" is a coin flip ("fail to" makes up the rest)."""
    negated = rng.random() < 0.5
    return replace(clause, negated=negated, fails=negated == affirms)


class NLIGenerator:
    """Draws (premise, hypothesis, label) candidates following the recipes of the module docstring."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.sampler = SentenceSampler(lexicon, NLI_STYLE)
        self.editor = _Editor(lexicon)

    def derive(self, rng: random.Random, source: Clause, label: int, premise: Sentence) -> Clause:
        """A hypothesis clause with ``label`` with respect to ``source``, a clause of ``premise``."""
        editor = self.editor
        if label == NEUTRAL:
            return with_meaning(rng, self._unsettled(rng, source, premise), rng.random() < 0.5)
        if not source.affirms:
            return with_meaning(rng, editor.add_some(rng, source), label == CONTRADICTION)
        if rng.random() < DROP_SHARE:
            return with_meaning(rng, editor.drop_some(rng, source), label == ENTAILMENT)
        swapped, slot = editor.swap(rng, source)
        swapped = editor.drop_some(rng, swapped, 0.3, keep=slot)
        swapped = editor.add_some(rng, swapped, 0.3, skip=tuple(editor.present(source)))
        return with_meaning(rng, swapped, label == CONTRADICTION)

    def _unsettled(self, rng: random.Random, source: Clause, premise: Sentence) -> Clause:
        """A clause whose truth ``premise`` leaves open, whatever it means (neutral either way)."""
        editor = self.editor
        roll = rng.random()
        if source.affirms:
            missing = editor.absent(source)
            if roll < 0.5 and missing:  # a modifier the premise does not state
                slot = rng.choice(missing)
                return editor.drop_some(rng, editor.add(rng, source, slot), keep=slot)
            return editor.other_verb(rng, editor.drop_some(rng, source), premise)  # another event
        stated = editor.present(source)
        if roll < 1 / 3:  # not what the premise denies: another participant or modifier
            return editor.swap(rng, editor.add_some(rng, source), among=editor.stated(source))[0]
        if roll < 2 / 3 and stated:  # less than what the premise denies
            slot = rng.choice(stated)
            return editor.add_some(rng, replace(source, **{slot: None}), skip=(slot,))
        return editor.other_verb(rng, editor.add_some(rng, source), premise)

    def candidate(self, rng: random.Random) -> tuple[Sentence, Sentence, int]:
        """A fresh premise, a label drawn uniformly and a hypothesis with that label."""
        label = rng.choice(LABELS)
        premise = self.sampler.sentence(rng)
        from_reason = premise.reason is not None and rng.random() < 0.5
        source = premise.reason if from_reason else premise.main
        source = replace(source, fails=source.negated == (rng.random() < SOURCE_AFFIRMS))  # fixes its meaning
        premise = Sentence(premise.main, source) if from_reason else Sentence(source, premise.reason)
        hypothesis = Sentence(self.derive(rng, source, label, premise))
        if nli_label(premise, hypothesis) != label:
            raise AssertionError(f"NLI construction disagrees with the semantics: {premise} / {hypothesis}")
        return premise, hypothesis, label


def block_key(premise: Sentence, hypothesis: Sentence, lexicon: Lexicon) -> tuple:
    """What a model could see of an item without relating premise and hypothesis, besides word identities:
    the hypothesis' object kind and modifiers per clause, and the token lengths of premise and hypothesis
    in every language (which include the number of negation words, see :func:`length_key`)."""
    shape = tuple(
        (
            None if clause.object is None else clause.object.startswith("n:"),
            *(getattr(clause, name) is not None for name in MODIFIERS),
        )
        for clause in hypothesis.clauses
    )
    return shape, length_key(premise, lexicon), length_key(hypothesis, lexicon)


def balanced_items(
    lexicon: Lexicon,
    rng: random.Random,
    sizes: dict[str, int],
    exclude: set[Sentence] = frozenset(),
) -> dict[str, list[NLIItem]]:
    """Label-balanced NLI items, split into ``sizes`` (``{split: rows}``, filled in this order).

    Items are kept in blocks of one item per label with the same :func:`block_key`; each split is made of
    whole blocks (a size that is not a multiple of 3 cuts its last one). No premise occurs twice, within or
    across splits, or occurs in ``exclude``. Splits are filled in the given order, so the earlier ones do not
    depend on the sizes of later ones.
    """
    generator = NLIGenerator(lexicon)
    seen = set(exclude)
    waiting: dict[tuple, tuple[list, list, list]] = {}
    splits: dict[str, list[NLIItem]] = {}
    for split, n in sizes.items():
        rows: list[tuple[Sentence, Sentence, int]] = []
        while len(rows) < n:
            premise, hypothesis, label = generator.candidate(rng)
            if premise in seen:
                continue
            seen.add(premise)
            queues = waiting.setdefault(block_key(premise, hypothesis, lexicon), ([], [], []))
            queues[label].append((premise, hypothesis))
            if all(queues):
                rows.extend((*queues[label].pop(0), label) for label in (ENTAILMENT, NEUTRAL, CONTRADICTION))
        rows = rows[:n]
        rng.shuffle(rows)
        splits[split] = [NLIItem(f"{split}-{i:05d}", p, h, label) for i, (p, h, label) in enumerate(rows)]
    return splits
