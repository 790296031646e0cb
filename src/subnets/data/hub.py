"""Hugging Face hub datasets the paper uses, with their language lists in one place.

Every loader checks the language BEFORE calling ``datasets.load_dataset``, so a typo in the config fails
at once with the list of valid codes instead of after (or during) a download. The loaders return the hub
schema as is; ``subnets.data.sources.load_raw`` keeps the task's columns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datasets

WIKIANN_ID = "unimelb-nlp/wikiann"  # the paper's `wikiann`, under its current hub id
XNLI_ID = "facebook/xnli"  # the paper's `xnli`
WIKIPEDIA_ID = "wikimedia/wikipedia"
WIKIPEDIA_DUMP = "20231101"
WMT14_ID = "wmt/wmt14"

XNLI_LANGUAGES: tuple[str, ...] = tuple("ar bg de el en es fr hi ru sw th tr ur vi zh".split())

# The 176 configurations of WikiAnn (Rahimi et al. 2019's balanced splits), named by Wikipedia code.
WIKIANN_LANGUAGES: tuple[str, ...] = tuple(
    """
    ace af als am an ang ar arc arz as ast ay az ba bar bat-smg be be-x-old bg bh bn bo br bs ca cbk-zam
    cdo ce ceb ckb co crh cs csb cv cy da de diq dv el eml en eo es et eu ext fa fi fiu-vro fo fr frr fur
    fy ga gan gd gl gn gu hak he hi hr hsb hu hy ia id ig ilo io is it ja jbo jv ka kk km kn ko ksh ku ky
    la lb li lij lmo ln lt lv map-bms mg mhr mi min mk ml mn mr ms mt mwl my mzn nap nds ne nl nn no nov
    oc or os pa pdc pl pms pnb ps pt qu rm ro ru rw sa sah scn sco sd sh si simple sk sl so sq sr su sv sw
    szl ta te tg th tk tl tr tt ug uk ur uz vec vep vi vls vo wa war wuu xmf yi yo zea zh zh-classical
    zh-min-nan zh-yue
    """.split()
)

# WMT14 pairs all have English on one side; the config is "<other>-en".
WMT14_LANGUAGES: tuple[str, ...] = ("cs", "de", "fr", "hi", "ru")

# Wikipedia has some 300 editions, and which ones a dump holds changes with the dump: codes are checked
# for form only here, and a well-formed code without an edition is reported by the hub.
_WIKIPEDIA_CODE = re.compile(r"[a-z]{2,3}(-[a-z0-9]+)*")


def require_language(dataset: str, lang: str, available: Iterable[str]) -> None:
    available = tuple(available)
    if lang not in available:
        raise ValueError(f"{dataset} has no language {lang!r}; available: {' '.join(available)}")


def load_wikiann(lang: str) -> datasets.DatasetDict:
    """WikiAnn NER for ``lang``: splits train / validation / test."""
    import datasets

    require_language(WIKIANN_ID, lang, WIKIANN_LANGUAGES)
    return datasets.load_dataset(WIKIANN_ID, lang)


def load_xnli(lang: str) -> datasets.DatasetDict:
    """XNLI for ``lang``: splits train (machine-translated MNLI) / validation / test."""
    import datasets

    require_language(XNLI_ID, lang, XNLI_LANGUAGES)
    return datasets.load_dataset(XNLI_ID, lang)


def load_wikipedia(lang: str) -> datasets.DatasetDict:
    """The Wikipedia dump of ``lang``, one article per row: a single ``train`` split."""
    import datasets

    if not _WIKIPEDIA_CODE.fullmatch(lang):
        raise ValueError(f"{WIKIPEDIA_ID}: {lang!r} is not a Wikipedia language code (e.g. en, zh, be-x-old)")
    return datasets.DatasetDict(
        {"train": datasets.load_dataset(WIKIPEDIA_ID, f"{WIKIPEDIA_DUMP}.{lang}", split="train")}
    )


def load_wmt14(src: str, tgt: str, split: str = "test") -> datasets.Dataset:
    """WMT14 sentence pairs between English and one other language (``translation`` column of dicts)."""
    import datasets

    if "en" not in (src, tgt) or src == tgt:
        raise ValueError(f"{WMT14_ID} pairs English with one other language, got {src}-{tgt}")
    other = tgt if src == "en" else src
    require_language(WMT14_ID, other, WMT14_LANGUAGES)
    return datasets.load_dataset(WMT14_ID, f"{other}-en", split=split)
