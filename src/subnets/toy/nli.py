"""NLI items (premise, hypothesis, label) built on the abstract side, without shallow cues to the label.

The label is drawn first; the hypothesis is one clause made from an affirmed clause of the premise (the
*source*: the main clause, or the reason clause for half of the premises that have one; the other clause may
be negated). See :mod:`subnets.toy.semantics` for what the labels mean. The hypothesis is

* entailment: the source with some modifiers dropped, affirmed; or the source with one participant or modifier
  swapped (other modifiers dropped or added), denied ("Anna saw the car in Lima" -> "Anna did not see the
  car in Oslo": the one event of seeing was in Lima);
* contradiction: the same two edits with the opposite polarity (dropped modifiers, denied; swapped, affirmed);
* neutral, affirmed or denied by a coin flip: a modifier the source does not state added; or another verb,
  with the first or the second kind of edit.

Each label's hypotheses are denied half of the time ("drop" and "swap" edits are equally likely), so the word
"not" says nothing about the label. Premises are drawn before, and independently of, the label.

Finally, items are kept in *balanced blocks*: an item waits until an item of each other label with the same
:func:`block_key` (the hypothesis' object kind, modifiers and negation, the token lengths of premise and
hypothesis in every language) has been drawn, and the three are kept together. Anything computable from those
alone is independent of the label, by construction, in every split.

With ``WorldConfig.nli_negated_hypotheses = False`` (the *affirmed* style) no hypothesis is denied: entailment
is the source with some modifiers dropped, contradiction the source with one participant or modifier swapped
(others dropped or added), neutral a modifier the source does not state added, or another verb. The label is
then a matter of relating the hypothesis' words to the premise's (all stated, one changed, one new), not a
parity with the polarity: a logistic regression on the number of hypothesis words absent from the premise and
the two lengths gets about 70% on it (about 35% on the default style). The balanced blocks (and premises drawn
independently of the label) still keep the hypothesis alone, the premise alone and the lengths uninformative.
The demo uses this style: its tiny BERT, pre-trained to relate sentence pairs (:mod:`subnets.toy.pretrain`),
learns it from 640 examples in 30 steps (62-67% in every language), the default style hardly (34-44%).

Why premises are never denied where it matters: with "not" as the only way to deny, a denied source makes an
entailment's hypothesis denied and a contradiction's affirmed, so blocks could never hold both. Languages with
a second, cancelling way to deny (an antonym verb, "fail to") avoid that, but make the label a parity of four
negation marks, which a tiny BERT did not learn from a few thousand examples.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from subnets.toy.grammar import NLI_STYLE, Clause, Lexicon, Sentence, SentenceSampler
from subnets.toy.languages import length_key, name_length
from subnets.toy.semantics import CONTRADICTION, ENTAILMENT, NEUTRAL, nli_label

MODIFIERS = ("adjective", "location", "time")
LABELS = (ENTAILMENT, NEUTRAL, CONTRADICTION)


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

    def drop_some(self, rng: random.Random, clause: Clause, keep: str = "") -> Clause:
        """Drop each stated modifier but ``keep`` with probability 1/2: the result states nothing new."""
        for slot in self.present(clause):
            if slot != keep and rng.random() < 0.5:
                clause = replace(clause, **{slot: None})
        return clause

    def add_some(self, rng: random.Random, clause: Clause, skip: tuple[str, ...] = ()) -> Clause:
        """Add each missing modifier but ``skip`` with probability 1/2: the result keeps everything stated
        (skip the slots dropped before, or a dropped modifier comes back with another value)."""
        for slot in self.absent(clause):
            if slot not in skip and rng.random() < 0.5:
                clause = self.add(rng, clause, slot)
        return clause

    def swap(self, rng: random.Random, clause: Clause) -> tuple[Clause, str]:
        """Change one stated participant or modifier, to a name of the same length where there is one;
        return the clause and the changed slot."""
        slot = rng.choice(["subject"] + (["object"] if clause.object is not None else []) + self.present(clause))
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


class NLIGenerator:
    """Draws (premise, hypothesis, label) candidates following the recipes of the module docstring."""

    def __init__(self, lexicon: Lexicon, negated_hypotheses: bool = True) -> None:
        self.sampler = SentenceSampler(lexicon, NLI_STYLE)
        self.editor = _Editor(lexicon)
        self.negated_hypotheses = negated_hypotheses

    def _swap(self, rng: random.Random, source: Clause) -> Clause:
        """Swap one participant or modifier, then drop or add others (never re-adding a dropped slot)."""
        editor = self.editor
        swapped, slot = editor.swap(rng, source)
        swapped = editor.drop_some(rng, swapped, keep=slot)
        return editor.add_some(rng, swapped, skip=tuple(editor.present(source)))

    def derive(self, rng: random.Random, source: Clause, label: int, premise: Sentence) -> Clause:
        """A hypothesis clause with ``label`` with respect to ``source``, an affirmed clause of ``premise``."""
        editor = self.editor
        if not self.negated_hypotheses:
            return replace(self._derive_affirmed(rng, source, label, premise), negated=False)
        if label != NEUTRAL:
            dropped = rng.random() < 0.5
            edited = editor.drop_some(rng, source) if dropped else self._swap(rng, source)
            return replace(edited, negated=dropped == (label == CONTRADICTION))
        missing = editor.absent(source)
        roll = rng.random()
        if roll < 1 / 2 and missing:  # a modifier the premise does not state
            slot = rng.choice(missing)
            edited = editor.drop_some(rng, editor.add(rng, source, slot), keep=slot)
        else:  # another event
            edited = editor.drop_some(rng, source) if roll < 3 / 4 else self._swap(rng, source)
            edited = editor.other_verb(rng, edited, premise)
        return replace(edited, negated=rng.random() < 0.5)

    def _derive_affirmed(self, rng: random.Random, source: Clause, label: int, premise: Sentence) -> Clause:
        """The affirmed style: entailment drops, contradiction swaps, neutral adds a modifier or changes the verb."""
        editor = self.editor
        if label == ENTAILMENT:
            return editor.drop_some(rng, source)
        if label == CONTRADICTION:
            return self._swap(rng, source)
        missing = editor.absent(source)
        roll = rng.random()
        if roll < 1 / 2 and missing:  # a modifier the premise does not state
            slot = rng.choice(missing)
            return editor.drop_some(rng, editor.add(rng, source, slot), keep=slot)
        edited = editor.drop_some(rng, source) if roll < 3 / 4 else self._swap(rng, source)
        return editor.other_verb(rng, edited, premise)

    def candidate(self, rng: random.Random) -> tuple[Sentence, Sentence, int]:
        """A fresh premise, a label drawn uniformly and a hypothesis with that label."""
        label = rng.choice(LABELS)
        premise = self.sampler.sentence(rng)
        if premise.reason is not None and rng.random() < 0.5:
            source = replace(premise.reason, negated=False)
            premise = Sentence(premise.main, source)
        else:
            source = replace(premise.main, negated=False)
            premise = Sentence(source, premise.reason)
        hypothesis = Sentence(self.derive(rng, source, label, premise))
        if nli_label(premise, hypothesis) != label:
            raise AssertionError(f"NLI construction disagrees with the semantics: {premise} / {hypothesis}")
        return premise, hypothesis, label


def block_key(premise: Sentence, hypothesis: Sentence, lexicon: Lexicon) -> tuple:
    """What a model could see of an item without relating premise and hypothesis, besides word identities:
    the hypothesis' negation, object kind and modifiers per clause, and the token lengths of premise and
    hypothesis in every language (see :func:`length_key`)."""
    shape = tuple(
        (
            clause.negated,
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
    negated_hypotheses: bool = True,
) -> dict[str, list[NLIItem]]:
    """Label-balanced NLI items, split into ``sizes`` (``{split: rows}``, filled in this order).

    Items are kept in blocks of one item per label with the same :func:`block_key`; each split is made of
    whole blocks (a size that is not a multiple of 3 cuts its last one). No premise occurs twice, within or
    across splits, or occurs in ``exclude``. Splits are filled in the given order, so the earlier ones do not
    depend on the sizes of later ones. ``negated_hypotheses=False`` selects the affirmed style (module docstring).
    """
    generator = NLIGenerator(lexicon, negated_hypotheses)
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
