"""The knobs of the toy world, validated once so that every generator can trust them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from subnets.toy.languages import LANGUAGE_CODES, PIVOT

MIN_LANGUAGES = 2
MAX_LANGUAGES = len(LANGUAGE_CODES)


@dataclass(frozen=True)
class WorldConfig:
    """Everything the toy world depends on; the same config always writes byte-identical files.

    ``languages`` is either a count ``n`` (the first ``n`` codes of :data:`LANGUAGE_CODES`, so the default 5 are
    the pivot, its related sister, the distant language, a Cyrillic one and the low-resource one) or an explicit
    list of codes, which must contain the pivot ``t0``. Sizes count rows per split; the low-resource language
    gets ``low_resource_share`` of the MLM training documents of the others.

    ``nli_negated_hypotheses`` picks the NLI recipe (see :mod:`subnets.toy.nli`): True, half of the hypotheses
    are denied and the label depends jointly on the edit and the hypothesis' polarity (an XOR of the two);
    False, every hypothesis affirms (entailment: modifiers dropped; contradiction: a participant or modifier
    swapped; neutral: a modifier added or another verb), so word overlap with the premise decides most items.
    Both keep the labels balanced and uninformative from the hypothesis alone, the premise alone or the lengths.
    """

    seed: int = 0
    languages: int | tuple[str, ...] = 5
    mlm_train_docs: int = 3000
    mlm_validation_docs: int = 300
    low_resource_share: float = 0.1
    sentences_per_doc: tuple[int, int] = (4, 10)
    ner_train: int = 2000
    ner_validation: int = 500
    ner_test: int = 500
    nli_train: int = 3000
    nli_validation: int = 600
    nli_test: int = 600
    parallel_size: int = 500
    parallel_nli_size: int = 500
    nli_negated_hypotheses: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.languages, bool) or not isinstance(self.languages, (int, tuple, list)):
            raise TypeError(f"languages: expected a count or a list of codes, got {self.languages!r}")
        if isinstance(self.languages, list):
            object.__setattr__(self, "languages", tuple(self.languages))
        count = self.languages if isinstance(self.languages, int) else len(self.languages)
        if not MIN_LANGUAGES <= count <= MAX_LANGUAGES:
            raise ValueError(f"languages: the toy world has {MIN_LANGUAGES} to {MAX_LANGUAGES} languages, got {count}")
        codes = self.language_codes
        if PIVOT not in codes:
            raise ValueError(f"languages: the pivot {PIVOT!r} must be one of the languages, got {list(codes)}")
        if not isinstance(self.nli_negated_hypotheses, bool):
            raise TypeError(f"nli_negated_hypotheses: expected true or false, got {self.nli_negated_hypotheses!r}")
        if not 0 < self.low_resource_share <= 0.1:
            raise ValueError(f"low_resource_share: must be in (0, 0.1], got {self.low_resource_share}")
        low, high = self.sentences_per_doc
        if not 1 <= low <= high:
            raise ValueError(f"sentences_per_doc: need 1 <= min <= max, got {self.sentences_per_doc}")
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name.endswith(("_docs", "_train", "_validation", "_test", "_size")) and value < 1:
                raise ValueError(f"{field.name}: must be at least 1, got {value}")

    @property
    def language_codes(self) -> tuple[str, ...]:
        """The selected codes, in the canonical order of :data:`LANGUAGE_CODES` (pivot first)."""
        if isinstance(self.languages, int):
            return tuple(LANGUAGE_CODES[: self.languages])
        unknown = [code for code in self.languages if code not in LANGUAGE_CODES]
        if unknown:
            raise ValueError(f"languages: unknown codes {unknown}; the toy codes are {list(LANGUAGE_CODES)}")
        if len(set(self.languages)) != len(self.languages):
            raise ValueError(f"languages: duplicate codes in {list(self.languages)}")
        return tuple(code for code in LANGUAGE_CODES if code in self.languages)

    def to_dict(self) -> dict:
        """A JSON-ready copy (tuples as lists), recorded in the manifest."""
        data = dataclasses.asdict(self)
        data["languages"] = list(self.language_codes)
        data["sentences_per_doc"] = list(self.sentences_per_doc)
        return data
