"""Abstract samples for the text tasks and their rows in the hub datasets' schemas.

Sampling happens on the abstract side (so tests can check every row against what it means); the ``*_row``
functions write one sample in one language, with the columns of the hub dataset the real loaders expect:

* MLM, like a Wikipedia dump: ``id``, ``title``, ``text``.
* NER, like WikiAnn: ``tokens``, ``ner_tags`` (ids of :data:`NER_LABELS`), ``langs``, ``spans``.
* NLI, like XNLI: ``premise``, ``hypothesis``, ``label`` (0 entailment, 1 neutral, 2 contradiction);
  the parallel NLI probe adds ``id`` (shared by the realisations of one item in all languages).
* Parallel text, like wmt14: ``translation`` (``{code: text}`` for two languages), plus ``id``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from subnets.toy.grammar import Sentence, SentenceSampler
from subnets.toy.languages import NER_LABELS, Language, detokenize
from subnets.toy.nli import NLIItem


@dataclass(frozen=True)
class Document:
    """A Wikipedia-like article: sentences mostly about one entity, its title."""

    topic: str
    sentences: tuple[Sentence, ...]


def sample_documents(
    sampler: SentenceSampler,
    rng: random.Random,
    count: int,
    sentences_per_doc: tuple[int, int],
    exclude: set[Document],
) -> list[Document]:
    """``count`` distinct documents not in ``exclude`` (which is updated, keeping splits disjoint)."""
    topics = tuple(sampler.lexicon.entities)
    documents: list[Document] = []
    while len(documents) < count:
        topic = rng.choice(topics)
        length = rng.randint(*sentences_per_doc)
        sentences = tuple(
            sampler.sentence(rng, topic=topic if i == 0 or rng.random() < 0.5 else None) for i in range(length)
        )
        document = Document(topic, sentences)
        if document not in exclude:
            exclude.add(document)
            documents.append(document)
    return documents


def sample_sentences(
    sampler: SentenceSampler, rng: random.Random, count: int, exclude: set[Sentence], *, with_entity: bool
) -> list[Sentence]:
    """``count`` distinct sentences not in ``exclude`` (updated); NER wants at least one entity each."""
    sentences: list[Sentence] = []
    while len(sentences) < count:
        sentence = sampler.sentence(rng)
        if sentence in exclude or (with_entity and not sentence.entities()):
            continue
        exclude.add(sentence)
        sentences.append(sentence)
    return sentences


def mlm_row(language: Language, document: Document, row_id: str) -> dict:
    title = detokenize([token for token, _ in language.realise_entity(document.topic)])
    return {"id": row_id, "title": title, "text": " ".join(language.text(s) for s in document.sentences)}


def ner_row(language: Language, sentence: Sentence) -> dict:
    tagged = language.realise(sentence)
    tokens = [token for token, _ in tagged]
    tags = [tag for _, tag in tagged]
    return {"tokens": tokens, "ner_tags": tags, "langs": [language.code] * len(tokens), "spans": spans(tokens, tags)}


def spans(tokens: list[str], tags: list[int]) -> list[str]:
    """WikiAnn's ``spans`` column: ``"PER: Mara Tolen"`` for each entity, in order."""
    found: list[str] = []
    for i, tag in enumerate(tags):
        label = NER_LABELS[tag]
        if label.startswith("B-"):
            end = i + 1
            while end < len(tags) and NER_LABELS[tags[end]] == "I-" + label[2:]:
                end += 1
            found.append(f"{label[2:]}: {' '.join(tokens[i:end])}")
    return found


def nli_row(language: Language, item: NLIItem, *, with_id: bool = False) -> dict:
    row = {"premise": language.text(item.premise), "hypothesis": language.text(item.hypothesis), "label": item.label}
    return {"id": item.id, **row} if with_id else row


def parallel_row(pivot: Language, language: Language, sentence: Sentence, row_id: str) -> dict:
    return {"id": row_id, "translation": {pivot.code: pivot.text(sentence), language.code: language.text(sentence)}}
