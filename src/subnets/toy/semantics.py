"""What a toy premise says about a toy hypothesis: the NLI label as a function of two abstract sentences.

The toy world's semantics, kept deliberately small:

* A clause speaks about the event of its verb. A clause that *affirms* says that this event happened, with
  the stated participants and modifiers; one that denies ("not") says that no event with all the stated
  properties happened.
* Like image captions in SNLI, an affirmed event is *the* event of its verb: a premise that affirms
  "Anna saw the red car in Lima" fixes who saw, what, which colour and where. Unstated modifiers stay unknown.
* "M because R" asserts M, R and a causal link from R's verb to M's.

So for a premise clause p and a hypothesis clause h about the same verb (h's stated slots ``H``, p's ``P``):

=========  ==========  =======================  ======================  ========
p affirms  h affirms   entailment               contradiction           else
=========  ==========  =======================  ======================  ========
yes        yes         H within P               a slot differs          neutral
yes        no          a slot differs           H within P              neutral
no         yes         never                    P within H              neutral
no         no          P within H               never                   neutral
=========  ==========  =======================  ======================  ========

A hypothesis clause about a verb the premise does not mention, or a causal link it does not state, is
neutral. The hypothesis as a whole is a contradiction if any of its parts is, an entailment if all are.
"""

from __future__ import annotations

from subnets.toy.grammar import Clause, Sentence

ENTAILMENT, NEUTRAL, CONTRADICTION = 0, 1, 2
NLI_LABELS = ("entailment", "neutral", "contradiction")


def clause_label(premise: Clause | None, hypothesis: Clause) -> int:
    """The label of one hypothesis clause given the premise clause about the same verb (or None)."""
    if premise is None:
        return NEUTRAL
    p, h = premise.slots(), hypothesis.slots()
    differs = any(p[name] != value for name, value in h.items() if name in p)
    h_within_p = not differs and h.keys() <= p.keys()
    p_within_h = not differs and p.keys() <= h.keys()
    if premise.affirms and hypothesis.affirms:
        return CONTRADICTION if differs else ENTAILMENT if h_within_p else NEUTRAL
    if premise.affirms:
        return ENTAILMENT if differs else CONTRADICTION if h_within_p else NEUTRAL
    if hypothesis.affirms:
        return CONTRADICTION if p_within_h else NEUTRAL
    return ENTAILMENT if p_within_h else NEUTRAL


def nli_label(premise: Sentence, hypothesis: Sentence) -> int:
    """The gold label of ``hypothesis`` given ``premise`` (see the module docstring for the semantics)."""
    by_verb = {clause.verb: clause for clause in premise.clauses}
    labels = [clause_label(by_verb.get(clause.verb), clause) for clause in hypothesis.clauses]
    if hypothesis.reason is not None:
        stated = premise.reason is not None and (premise.reason.verb, premise.main.verb) == (
            hypothesis.reason.verb,
            hypothesis.main.verb,
        )
        labels.append(ENTAILMENT if stated else NEUTRAL)
    if CONTRADICTION in labels:
        return CONTRADICTION
    return ENTAILMENT if all(label == ENTAILMENT for label in labels) else NEUTRAL
