"""The toy languages: typology, scripts, generated vocabularies, and the realiser of abstract sentences.

Codes are ``t0`` .. ``t8`` (digits, so they can never be mistaken for ISO 639 codes):

====  ==============  ========  =====  ====  =========  ========  =======  =============================
code  name            script    order  adp.  adjective  negation  capital  notes
====  ==============  ========  =====  ====  =========  ========  =======  =============================
t0    pivot           latin     SVO    pre   before     word      yes      English-like; articles
t1    sister          latin+´   SVO    pre   before     word      yes      related to t0: 60% shared words
t2    distant         greek     SOV    post  after      suffix    no       names written like words
t3    eastern         cyrillic  SVO    pre   after      word      yes
t4    lowres          latin     SVO    pre   after      prefix    yes      low-resource (1/10 MLM text)
t5    eastern-sister  cyrillic  SVO    pre   after      word      yes      related to t3: 60% shared words
t6    southern        armenian  SOV    post  before     word      yes
t7    western         georgian  VSO    pre   after      word      no     articles
t8    clone           latin     SVO    pre   before     word      yes      the pivot's words and grammar
====  ==============  ========  =====  ====  =========  ========  =======  =============================

Every language draws its own pseudo-words from its own syllable inventory, and words are unique across all
languages except the lemmas a related language shares with its relative (identical forms, as for cognates).
Names come from the shared entity pool and are transliterated into each script, so NER can partly transfer.
The clone ``t8`` is the phantom's positive control: the pivot itself (every form, the same grammar) with its
own texts, so that whatever the pipeline measures between the pivot and its clone is what it measures between
two samples of one language. Vocabularies of all languages are always built, in code order, so selecting fewer
languages changes nothing in the others.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field

from subnets.toy.grammar import Clause, Entity, Lexicon, Sentence, verb_lemma

PIVOT = "t0"
LANGUAGE_CODES = ("t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8")

NER_LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
_BEGIN = {"PER": 1, "ORG": 3, "LOC": 5}
FUNCTION_LEMMAS = ("DET", "IN", "BECAUSE", "NEG")
PUNCTUATION = (".",)


@dataclass(frozen=True)
class Inventory:
    """A syllable inventory; ``marked`` letters (if any) must occur in every own word, giving the language a
    recognisable "script" even when it shares an alphabet with another language."""

    onsets: tuple[str, ...]
    nuclei: tuple[str, ...]
    codas: tuple[str, ...]
    marked: str = ""

    @property
    def letters(self) -> set[str]:
        return set("".join(self.onsets + self.nuclei + self.codas))


@dataclass(frozen=True)
class Profile:
    """The typology of one toy language (recorded in the world manifest)."""

    code: str
    name: str
    script: str
    word_order: str  # "SVO" | "SOV" | "VSO"
    adposition: str  # "preposition" | "postposition"
    adjective: str  # "before" | "after" the noun
    article: bool
    negation: str  # "word" (before the verb) | "prefix" | "suffix" (on the verb)
    capitalisation: bool  # sentence starts and names capitalised
    inventory: Inventory
    transliteration: dict[str, str] = field(default_factory=dict)
    related_to: str | None = None
    shared_share: float = 0.0
    low_resource: bool = False
    clone_of: str | None = None  # a clone writes exactly as this language does

    def properties(self) -> dict:
        """The manifest entry: everything but the inventories."""
        return {
            "code": self.code,
            "name": self.name,
            "script": self.script,
            "word_order": self.word_order,
            "adposition": self.adposition,
            "adjective": self.adjective,
            "article": self.article,
            "negation": self.negation,
            "capitalisation": self.capitalisation,
            "related_to": self.related_to,
            "shared_share": self.shared_share,
            "low_resource": self.low_resource,
            "clone_of": self.clone_of,
            "pivot": self.code == PIVOT,
        }


def _translit(pairs: str) -> dict[str, str]:
    """``"a:α b:β"`` -> ``{"a": "α", "b": "β"}``."""
    return dict(item.split(":") for item in pairs.split())


GREEK = _translit("a:α b:μπ d:ντ e:ε f:φ g:γκ i:ι k:κ l:λ m:μ n:ν o:ο p:π r:ρ s:σ t:τ u:ου v:β z:ζ")
CYRILLIC = _translit("a:а b:б d:д e:е f:ф g:г i:и k:к l:л m:м n:н o:о p:п r:р s:с t:т u:у v:в z:з")
ARMENIAN = _translit("a:ա b:բ d:դ e:ե f:ֆ g:գ i:ի k:կ l:լ m:մ n:ն o:օ p:պ r:ր s:ս t:տ u:ու v:վ z:զ")
GEORGIAN = _translit("a:ა b:ბ d:დ e:ე f:ფ g:გ i:ი k:კ l:ლ m:მ n:ნ o:ო p:პ r:რ s:ს t:ტ u:უ v:ვ z:ზ")


def _inventory(onsets: str, nuclei: str, codas: str, marked: str = "") -> Inventory:
    """An inventory from space-separated lists; ``-`` is the empty coda (repeat it to make it likelier)."""
    return Inventory(tuple(onsets.split()), tuple(nuclei.split()), tuple(c.strip("-") for c in codas.split()), marked)


# fmt: off
PROFILES: dict[str, Profile] = {
    p.code: p
    for p in (
        Profile(
            "t0", "pivot", "latin", "SVO", "preposition", "before", article=True, negation="word",
            capitalisation=True,
            inventory=_inventory("b d f g k l m n p r s t v w br dr gr pl st tr", "a e i o u ai ea oo",
                                 "- - - n r s t l nd rk"),
        ),
        Profile(
            "t1", "sister", "latin-diacritics", "SVO", "preposition", "before", article=True, negation="word",
            capitalisation=True,
            inventory=_inventory("b d f g l m n p r s t v ch ll ñ", "a e i o u á é í ó ú", "- - n r s l z",
                                 marked="áéíóúñ"),
            related_to="t0", shared_share=0.6,
        ),
        Profile(
            "t2", "distant", "greek", "SOV", "postposition", "after", article=False, negation="suffix",
            capitalisation=False,
            inventory=_inventory("β γ δ θ κ λ μ ν ξ π ρ σ τ φ χ", "α ε η ι ο υ ω αι ου", "- - - ν ρ"),
            transliteration=GREEK,
        ),
        Profile(
            "t3", "eastern", "cyrillic", "SVO", "preposition", "after", article=False, negation="word",
            capitalisation=True,
            inventory=_inventory("б в г д ж з к л м н п р с т ф х ц ч ш", "а е и о у ы я ю", "- - н р с т й к л"),
            transliteration=CYRILLIC,
        ),
        Profile(
            "t4", "lowres", "latin", "SVO", "preposition", "after", article=False, negation="prefix",
            capitalisation=True,
            inventory=_inventory("k m n ng ny mb nd w z sh ch t j h p", "a e i o u", "-"),
            low_resource=True,
        ),
        Profile(
            "t5", "eastern-sister", "cyrillic-extended", "SVO", "preposition", "after", article=False,
            negation="word", capitalisation=True,
            inventory=_inventory("б в г д з к л м н п р с т ґ", "а е и о у і ї є", "- - н р с т й", marked="іїєґ"),
            transliteration=CYRILLIC, related_to="t3", shared_share=0.6,
        ),
        Profile(
            "t6", "southern", "armenian", "SOV", "postposition", "before", article=False, negation="word",
            capitalisation=True,
            inventory=_inventory("բ գ դ զ թ ժ լ խ կ հ մ ն շ պ ռ ս վ տ ց ք", "ա ե է ը ի ո", "- - ն ր ս տ"),
            transliteration=ARMENIAN,
        ),
        Profile(
            "t7", "western", "georgian", "VSO", "preposition", "after", article=True, negation="word",
            capitalisation=False,
            inventory=_inventory("ბ გ დ ვ ზ თ კ ლ მ ნ პ რ ს ტ ფ ქ შ ჩ ც ხ", "ა ე ი ო უ", "- - ნ რ ს ლ მ"),
            transliteration=GEORGIAN,
        ),
    )
}
# The clone: the pivot's typology and (in build_vocabularies) its every word form, under its own code and name.
PROFILES["t8"] = dataclasses.replace(PROFILES[PIVOT], code="t8", name="clone", clone_of=PIVOT)
# fmt: on


def render_name(profile: Profile, word: str) -> str:
    """A latin name word as ``profile`` writes it: transliterated, adapted to open syllables where the language
    has no codas, capitalised only where the language capitalises (otherwise names look like ordinary words)."""
    table = profile.transliteration
    out = "".join(table.get(ch, ch) for ch in word.lower())
    if profile.inventory.codas == ("",) and out[-1] not in "aeiou":
        out += "a" if out[-1] in "lmnr" else "i"  # a language of open syllables adapts the name
    if table is GREEK and out.endswith("σ"):
        out = out[:-1] + "ς"
    return out[0].upper() + out[1:] if profile.capitalisation else out


def _pseudo_word(rng: random.Random, inventory: Inventory, syllables: int) -> str:
    return "".join(
        rng.choice(inventory.onsets) + rng.choice(inventory.nuclei) + rng.choice(inventory.codas)
        for _ in range(syllables)
    )


def build_vocabularies(rng: random.Random, lexicon: Lexicon) -> dict[str, dict[str, str]]:
    """Surface forms of every lemma in every language: ``{code: {lemma: form}}``.

    Content words have 2 or 3 syllables, function words and the negation affix 1 or 2; a form is never reused
    by another language (nor by a name), except that a related language takes its relative's form for a fixed
    ``shared_share`` of the content lemmas, and a clone takes all of its original's forms (drawing nothing).
    """
    names = {name for entity in lexicon.entities.values() for name in entity.names}
    used = {render_name(profile, name).lower() for profile in PROFILES.values() for name in names}
    content = lexicon.content_lemmas()
    vocabularies: dict[str, dict[str, str]] = {}
    for code in LANGUAGE_CODES:
        profile = PROFILES[code]
        if profile.clone_of is not None:
            vocabularies[code] = dict(vocabularies[profile.clone_of])
            continue
        forms: dict[str, str] = {}
        if profile.related_to is not None:
            relative = vocabularies[profile.related_to]
            for lemma in sorted(rng.sample(content, round(profile.shared_share * len(content)))):
                forms[lemma] = relative[lemma]
        function = [lemma for lemma in FUNCTION_LEMMAS if lemma != "DET" or profile.article]
        for lemma in function + [lemma for lemma in content if lemma not in forms]:
            short = lemma in FUNCTION_LEMMAS
            while True:
                word = _pseudo_word(rng, profile.inventory, rng.choice((1, 2) if short else (2, 2, 2, 3)))
                marked = not profile.inventory.marked or any(ch in profile.inventory.marked for ch in word)
                if marked and len(word) >= 2 and word not in used:
                    break
            used.add(word)
            forms[lemma] = word
        vocabularies[code] = forms
    return vocabularies


class Language:
    """Writes abstract sentences as tokens of one toy language, with NER tags.

    The realisation of every abstract part has the same number of tokens in every language, except articles
    (one per noun phrase where the language has them) and the negation word (absent where negation is an
    affix); :func:`length_key` relies on this to make NLI lengths uninformative in all languages at once.
    """

    def __init__(self, profile: Profile, forms: dict[str, str], lexicon: Lexicon) -> None:
        self.profile = profile
        self.code = profile.code
        self.forms = forms
        self.lexicon = lexicon
        self._names = {key: self._name_tokens(entity) for key, entity in lexicon.entities.items()}

    def _name_tokens(self, entity: Entity) -> tuple[tuple[str, int], ...]:
        words = [render_name(self.profile, name) for name in entity.names]
        if entity.head is not None:
            head = self.forms[entity.head]
            words.append(head[0].upper() + head[1:] if self.profile.capitalisation else head)
        begin = _BEGIN[entity.kind]
        return tuple((word, begin if i == 0 else begin + 1) for i, word in enumerate(words))

    def realise_entity(self, key: str) -> tuple[tuple[str, int], ...]:
        """The tagged name tokens of an entity in this language."""
        return self._names[key]

    def vocabulary(self) -> set[str]:
        """Every word form this language can write (names as written, sentence-initial capitals excluded)."""
        words = set(self.forms.values()) | {word for tokens in self._names.values() for word, _ in tokens}
        words |= set(PUNCTUATION)
        if self.profile.negation != "word":
            words |= {self._negate(self.forms[verb_lemma(verb)]) for verb in self.lexicon.verbs}
        return words

    def _negate(self, verb: str) -> str:
        affix = self.forms["NEG"]
        return affix + verb if self.profile.negation == "prefix" else verb + affix

    def _argument(self, value: str, adjective: str | None = None) -> list[tuple[str, int]]:
        if value in self._names:
            return list(self._names[value])
        noun = [(self.forms[value], 0)]
        if adjective is not None:
            adj = [(self.forms[adjective], 0)]
            noun = adj + noun if self.profile.adjective == "before" else noun + adj
        return [(self.forms["DET"], 0)] + noun if self.profile.article else noun

    def _clause(self, clause: Clause) -> list[tuple[str, int]]:
        verb = self.forms[verb_lemma(clause.verb)]
        if not clause.negated:
            verb_group = [(verb, 0)]
        elif self.profile.negation == "word":
            verb_group = [(self.forms["NEG"], 0), (verb, 0)]
        else:
            verb_group = [(self._negate(verb), 0)]
        subject = self._argument(clause.subject)
        obj = [] if clause.object is None else self._argument(clause.object, clause.adjective)
        place: list[tuple[str, int]] = []
        if clause.location is not None:
            adposition = [(self.forms["IN"], 0)]
            location = list(self._names[clause.location])
            place = adposition + location if self.profile.adposition == "preposition" else location + adposition
        time = [] if clause.time is None else [(self.forms[clause.time], 0)]
        order = self.profile.word_order
        if order == "SVO":
            return subject + verb_group + obj + place + time
        if order == "SOV":
            return subject + time + place + obj + verb_group
        return verb_group + subject + obj + place + time

    def realise(self, sentence: Sentence) -> list[tuple[str, int]]:
        """``(token, NER tag id)`` pairs of the sentence, final full stop included."""
        tokens = self._clause(sentence.main)
        if sentence.reason is not None:
            because = [(self.forms["BECAUSE"], 0)]
            reason = self._clause(sentence.reason)
            tokens = reason + because + tokens if self.profile.word_order == "SOV" else tokens + because + reason
        tokens.append((".", 0))
        if self.profile.capitalisation:
            first, tag = tokens[0]
            tokens[0] = (first[0].upper() + first[1:], tag)
        return tokens

    def text(self, sentence: Sentence) -> str:
        """The sentence as running text (the full stop attached to the last word)."""
        return detokenize([token for token, _ in self.realise(sentence)])


def detokenize(tokens: list[str]) -> str:
    return " ".join(tokens).replace(" .", ".")


def build_languages(rng: random.Random, lexicon: Lexicon) -> dict[str, Language]:
    """All languages (vocabularies are built jointly so that forms never collide)."""
    vocabularies = build_vocabularies(rng, lexicon)
    return {code: Language(PROFILES[code], vocabularies[code], lexicon) for code in LANGUAGE_CODES}


def length_key(sentence: Sentence, lexicon: Lexicon) -> tuple[int, int, int]:
    """``(tokens without articles and negation words, noun phrases, negated clauses)``.

    The token count of ``sentence`` in any toy language is ``key[0] + key[1] * article + key[2] * negation_word``,
    so two sentences with the same key have the same length in every language.
    """
    base = noun_phrases = negations = 0
    for clause in sentence.clauses:
        negations += clause.negated
        base += 1  # the verb
        for value in (clause.subject, clause.object):
            if value is None:
                continue
            if value.startswith("n:"):
                noun_phrases += 1
                base += 1
            else:
                base += name_length(lexicon.entities[value])
        base += clause.adjective is not None
        base += 0 if clause.location is None else 1 + name_length(lexicon.entities[clause.location])
        base += clause.time is not None
    return base + (sentence.reason is not None) + 1, noun_phrases, negations


def name_length(entity: Entity) -> int:
    """Words in an entity's name, the same in every language."""
    return len(entity.names) + (entity.head is not None)
