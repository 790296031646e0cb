"""The toy multilingual world: build it from a :class:`WorldConfig`, write it as hub-shaped JSON lines.

Layout written by :func:`write_world` (``L`` = each language, ``t0`` the pivot)::

    world.json                        manifest: config, languages and their typology, files, rows, sha256
    mlm/L/{train,validation}.jsonl    id, title, text                    (Wikipedia-like)
    ner/L/{train,validation,test}.jsonl  tokens, ner_tags, langs, spans  (WikiAnn schema)
    nli/L/{train,validation,test}.jsonl  premise, hypothesis, label      (XNLI schema)
    parallel/t0-L/test.jsonl          id, translation {t0, L}            (wmt14 schema), for L != t0
    parallel_nli/L/test.jsonl         id, premise, hypothesis, label     (same items in every language)

As in XNLI, the NLI splits hold the same abstract items in every language, except the pivot's clone, which draws
its own (else its NLI data would be the pivot's, word for word); NER sentences and MLM documents are drawn per
language (as WikiAnn and Wikipedia differ per language). The probes' parallel files are parallel in every
language, the clone's included. Every sample comes from its own named random
stream, so the data of one language does not depend on which other languages are selected, and evaluation
splits do not depend on the size of the training split.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from subnets.io import atomic_path
from subnets.toy.config import WorldConfig
from subnets.toy.corpora import (
    Document,
    mlm_row,
    ner_row,
    nli_row,
    parallel_row,
    sample_documents,
    sample_sentences,
)
from subnets.toy.grammar import TEXT_STYLE, Lexicon, Sentence, SentenceSampler, build_lexicon
from subnets.toy.languages import NER_LABELS, PIVOT, Language, build_languages
from subnets.toy.nli import NLIItem, balanced_items
from subnets.toy.seeding import stream
from subnets.toy.semantics import NLI_LABELS

FORMAT_VERSION = 1


@dataclass
class World:
    """The abstract world of one config and the selected languages; methods return abstract samples."""

    config: WorldConfig
    lexicon: Lexicon
    languages: dict[str, Language]

    @functools.cached_property
    def _sampler(self) -> SentenceSampler:
        return SentenceSampler(self.lexicon, TEXT_STYLE)

    def mlm_documents(self, code: str) -> dict[str, list[Document]]:
        """Disjoint ``validation`` and ``train`` documents; a low-resource language gets a share of train."""
        config = self.config
        train = config.mlm_train_docs
        if self.languages[code].profile.low_resource:
            train = max(1, int(train * config.low_resource_share))
        seen: set[Document] = set()
        return {
            split: sample_documents(
                self._sampler, stream(config.seed, "mlm", code, split), n, config.sentences_per_doc, seen
            )
            for split, n in (("validation", config.mlm_validation_docs), ("train", train))
        }

    def ner_sentences(self, code: str) -> dict[str, list[Sentence]]:
        """Disjoint ``test``, ``validation`` and ``train`` sentences, each with at least one entity."""
        config = self.config
        sizes = (("test", config.ner_test), ("validation", config.ner_validation), ("train", config.ner_train))
        seen: set[Sentence] = set()
        return {
            split: sample_sentences(self._sampler, stream(config.seed, "ner", code, split), n, seen, with_entity=True)
            for split, n in sizes
        }

    @functools.cached_property
    def nli_items(self) -> dict[str, list[NLIItem]]:
        """Label-balanced ``test``, ``validation`` and ``train`` items, shared by all languages but a clone."""
        return self._nli_items(stream(self.config.seed, "nli"))

    def nli_items_of(self, code: str) -> dict[str, list[NLIItem]]:
        """The NLI items ``code`` writes: the shared ones, or a clone's own."""
        if self.languages[code].profile.clone_of is None:
            return self.nli_items
        return self._nli_items(stream(self.config.seed, "nli", code))

    def _nli_items(self, rng) -> dict[str, list[NLIItem]]:
        config = self.config
        sizes = {"test": config.nli_test, "validation": config.nli_validation, "train": config.nli_train}
        return balanced_items(self.lexicon, rng, sizes, negated_hypotheses=config.nli_negated_hypotheses)

    @functools.cached_property
    def parallel_nli_items(self) -> list[NLIItem]:
        """NLI items for the cross-lingual representation probes, disjoint from the NLI splits."""
        used = {item.premise for items in self.nli_items.values() for item in items}
        sizes = {"parallel": self.config.parallel_nli_size}
        rng = stream(self.config.seed, "parallel_nli")
        negated = self.config.nli_negated_hypotheses
        return balanced_items(self.lexicon, rng, sizes, used, negated_hypotheses=negated)["parallel"]

    @functools.cached_property
    def parallel_sentences(self) -> list[Sentence]:
        """Sentences for the retrieval probe, each realised in the pivot and in every other language."""
        rng = stream(self.config.seed, "parallel")
        return sample_sentences(self._sampler, rng, self.config.parallel_size, set(), with_entity=False)


def build_world(config: WorldConfig) -> World:
    """The lexicon, the vocabularies of all languages, and the selected languages (cheap: no data yet)."""
    lexicon = build_lexicon(stream(config.seed, "lexicon"))
    languages = build_languages(stream(config.seed, "vocabulary"), lexicon)
    return World(config, lexicon, {code: languages[code] for code in config.language_codes})


def _write_jsonl(path: Path, rows: list[dict]) -> dict:
    """Write rows as sorted-key UTF-8 JSON lines; return the manifest entry (rows, sha256)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows).encode()
    path.write_bytes(data)
    return {"rows": len(rows), "sha256": hashlib.sha256(data).hexdigest()}


def _rows(world: World) -> dict[str, list[dict]]:
    """Every file of the world as ``{relative path: rows}``."""
    files: dict[str, list[dict]] = {}
    pivot = world.languages[PIVOT]
    for code, language in world.languages.items():
        for split, documents in world.mlm_documents(code).items():
            files[f"mlm/{code}/{split}.jsonl"] = [
                mlm_row(language, doc, f"{code}-{split}-{i:05d}") for i, doc in enumerate(documents)
            ]
        for split, sentences in world.ner_sentences(code).items():
            files[f"ner/{code}/{split}.jsonl"] = [ner_row(language, s) for s in sentences]
        for split, items in world.nli_items_of(code).items():
            files[f"nli/{code}/{split}.jsonl"] = [nli_row(language, item) for item in items]
        files[f"parallel_nli/{code}/test.jsonl"] = [
            nli_row(language, item, with_id=True) for item in world.parallel_nli_items
        ]
        if code != PIVOT:
            files[f"parallel/{PIVOT}-{code}/test.jsonl"] = [
                parallel_row(pivot, language, s, f"parallel-{i:05d}") for i, s in enumerate(world.parallel_sentences)
            ]
    return files


def write_world(out_dir: str | os.PathLike, config: WorldConfig) -> dict:
    """Generate the world of ``config`` and write it to ``out_dir`` atomically; return the manifest.

    The same config always gives byte-identical files; ``out_dir`` is replaced as a whole.
    """
    world = build_world(config)
    manifest = {
        "format_version": FORMAT_VERSION,
        "seed": config.seed,
        "config": config.to_dict(),
        "pivot": PIVOT,
        "languages": {code: language.profile.properties() for code, language in world.languages.items()},
        "labels": {"ner": list(NER_LABELS), "nli": list(NLI_LABELS)},
        "files": {},
    }
    with atomic_path(out_dir) as tmp:
        for relative, rows in sorted(_rows(world).items()):
            manifest["files"][relative] = _write_jsonl(tmp / relative, rows)
        (tmp / "world.json").write_text(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return manifest
