"""A BERT-style WordPiece tokenizer trained on the toy world's MLM text.

The result is a ``transformers`` fast tokenizer saved with ``save_pretrained``, so the pipeline loads it with
``AutoTokenizer.from_pretrained`` exactly as it loads mBERT's. Special tokens sit at ids 0..4
(:data:`SPECIAL_TOKENS`); casing and accents are kept (the toy scripts need both). The toy models of other
families read the same learnt pieces in their own style (:class:`TokenizerStyle`, :func:`restyled_tokenizer`):
XLM-R's special tokens and ``<s> A </s></s> B </s>``, or Llama's with a pad token and right padding.

Why the vocabulary is not learnt by ``tokenizers.trainers.WordPieceTrainer``: that trainer is not
deterministic across processes, even single-threaded (``RAYON_NUM_THREADS=1``) and with the input in a fixed
order. It numbers the ``##x`` pieces while iterating a Rust ``HashMap`` (randomly seeded per process) and its
merge queue breaks ties between equally frequent pairs by those numbers; tied counts are common in a
generated corpus, so two runs on the same text pick different merges. :func:`learn_wordpiece_vocab` runs the
same algorithm (BPE merges over words, ``##`` marking word-internal pieces, as the WordPiece trainer does) with
ties broken by the pieces' text. Normalisation and pre-tokenisation are the ``tokenizers`` BERT components
the final tokenizer uses, and the result is a ``tokenizers`` WordPiece model.
"""

from __future__ import annotations

import heapq
import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
DEFAULT_VOCAB_SIZE = 3200


@dataclass(frozen=True)
class TokenizerStyle:
    """How a model family's tokenizer marks sequences: its special tokens (at ids 0.. in this order, before the
    learnt pieces), their roles (``transformers`` keywords: ``pad_token``, ``cls_token``, ...), the templates of
    one sequence and of a pair (``tokenizers`` TemplateProcessing), and the model inputs."""

    specials: tuple[str, ...]
    roles: dict[str, str]
    single: str
    pair: str
    model_input_names: tuple[str, ...] = ("input_ids", "attention_mask")
    padding_side: str | None = None  # written to the tokenizer's config when set (transformers' default: right)

    @property
    def unk_token(self) -> str:
        return self.roles["unk_token"]


# mBERT's: [CLS] A [SEP] B [SEP] with segment ids.
BERT_STYLE = TokenizerStyle(
    specials=SPECIAL_TOKENS,
    roles={"unk_token": "[UNK]", "pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]",
           "mask_token": "[MASK]"},  # fmt: skip
    single="[CLS] $A [SEP]",
    pair="[CLS] $A [SEP] $B:1 [SEP]:1",
    model_input_names=("input_ids", "token_type_ids", "attention_mask"),
)
# XLM-R's ids and markers: <s> 0, <pad> 1, </s> 2, <unk> 3; <s> A </s></s> B </s>, no segment ids.
ROBERTA_STYLE = TokenizerStyle(
    specials=("<s>", "<pad>", "</s>", "<unk>", "<mask>"),
    roles={"bos_token": "<s>", "cls_token": "<s>", "pad_token": "<pad>", "eos_token": "</s>", "sep_token": "</s>",
           "unk_token": "<unk>", "mask_token": "<mask>"},  # fmt: skip
    single="<s> $A </s>",
    pair="<s> $A </s> </s> $B </s>",
)
# Llama's: <unk> 0, <s> 1, </s> 2, a beginning-of-sequence token before a text and no end; a pad token of its
# own (Llama has none); a pair ends its first text with </s> and the pair with </s>, so the last token (the one
# a sequence classifier reads) is the same for every pair.
LLAMA_STYLE = TokenizerStyle(
    specials=("<unk>", "<s>", "</s>", "<pad>"),
    roles={"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"},
    single="<s> $A",
    pair="<s> $A </s> $B </s>",
    padding_side="right",  # as subnets.tasks.decoder pads decoders
)


def styled_fast_tokenizer(backend, style: TokenizerStyle = BERT_STYLE):
    """Wrap a WordPiece ``tokenizers.Tokenizer`` (or a bare ``tokenizers.models.WordPiece``) in ``style``.

    Sets BERT's normalizer (no lowercasing, accents kept), pre-tokenizer and WordPiece decoder, the style's
    templates, and returns a ``PreTrainedTokenizerFast`` with the style's special tokens, model inputs and
    padding side. The vocabulary must contain the style's special tokens.
    """
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tokenizer = backend if isinstance(backend, Tokenizer) else Tokenizer(backend)
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    marks = dict.fromkeys(p.split(":")[0] for p in f"{style.single} {style.pair}".split() if not p.startswith("$"))
    tokenizer.post_processor = processors.TemplateProcessing(
        single=style.single,
        pair=style.pair,
        special_tokens=[(token, tokenizer.token_to_id(token)) for token in marks],
    )
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        model_input_names=list(style.model_input_names),
        **({"padding_side": style.padding_side} if style.padding_side else {}),
        **style.roles,
    )


def bert_style_fast_tokenizer(backend):
    """:func:`styled_fast_tokenizer` in mBERT's style: ``[CLS] A [SEP] B [SEP]`` with segment ids."""
    return styled_fast_tokenizer(backend, BERT_STYLE)


def restyled_tokenizer(tokenizer_dir: str | os.PathLike, style: TokenizerStyle, extra_words: Iterable[str] = ()):
    """The toy tokenizer saved in ``tokenizer_dir`` (BERT style) in another family's ``style``: the same learnt
    pieces in the same order, after the style's special tokens instead of :data:`SPECIAL_TOKENS`, and
    ``extra_words`` the vocabulary lacks appended as whole words (e.g. the words of a task's prompt)."""
    from tokenizers import Tokenizer, models

    learnt = Tokenizer.from_file(str(Path(tokenizer_dir) / "tokenizer.json")).get_vocab()
    pieces = [piece for piece, _ in sorted(learnt.items(), key=lambda item: item[1]) if piece not in SPECIAL_TOKENS]
    vocab = list(dict.fromkeys([*style.specials, *pieces, *extra_words]))
    model = models.WordPiece({token: i for i, token in enumerate(vocab)}, unk_token=style.unk_token)
    return styled_fast_tokenizer(model, style)


def world_texts(world_dir: str | os.PathLike) -> list[Path]:
    """The MLM training files of a written world, in a fixed order (sorted by language code)."""
    manifest = json.loads((Path(world_dir) / "world.json").read_text())
    return [Path(world_dir) / f"mlm/{code}/train.jsonl" for code in sorted(manifest["languages"])]


def _lines(sources: Iterable[str | os.PathLike]) -> Iterator[str]:
    """Strings as they are; paths (``os.PathLike``) read as JSON lines (``.jsonl``: the ``text`` field) or
    plain text (one text per line)."""
    for source in sources:
        if not isinstance(source, os.PathLike):
            yield source
            continue
        path = Path(source)
        with path.open(encoding="utf-8") as handle:
            if path.suffix == ".jsonl":
                yield from (json.loads(line)["text"] for line in handle)
            else:
                yield from (line.rstrip("\n") for line in handle)


def _merged(symbols: tuple[str, ...], a: str, b: str, new: str) -> tuple[str, ...]:
    out: list[str] = []
    i = 0
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
            out.append(new)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


def learn_wordpiece_vocab(word_counts: dict[str, int], vocab_size: int) -> list[str]:
    """A WordPiece vocabulary by BPE merges, deterministic: ties go to the pair whose pieces sort first.

    Order: :data:`SPECIAL_TOKENS`, word-initial characters, ``##`` characters (both sorted), then merged
    pieces in the order they were learnt, until ``vocab_size`` pieces or nothing left to merge.
    """
    words = sorted(word_counts)
    counts = [word_counts[word] for word in words]
    symbols = [tuple([word[0]] + [f"##{ch}" for ch in word[1:]]) for word in words]
    vocab = list(SPECIAL_TOKENS)
    vocab += sorted({s[0] for s in symbols} - set(vocab)) + sorted({p for s in symbols for p in s[1:]})
    known = set(vocab)
    pair_counts: Counter[tuple[str, str]] = Counter()
    where: dict[tuple[str, str], set[int]] = defaultdict(set)
    for index, (word_symbols, count) in enumerate(zip(symbols, counts)):
        for pair in pairwise(word_symbols):
            pair_counts[pair] += count
            where[pair].add(index)
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        negative, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -negative:
            continue  # stale entry: the pair's count changed since it was pushed
        a, b = pair
        new = a + b[2:] if b.startswith("##") else a + b
        if new not in known:
            known.add(new)
            vocab.append(new)
        changed: set[tuple[str, str]] = set()
        for index in sorted(where.pop(pair)):
            old, count = symbols[index], counts[index]
            updated = _merged(old, a, b, new)
            for p in pairwise(old):
                pair_counts[p] -= count
                changed.add(p)
            for p in pairwise(updated):
                pair_counts[p] += count
                where[p].add(index)
                changed.add(p)
            symbols[index] = updated
        for p in sorted(changed):
            if pair_counts[p] > 0:
                heapq.heappush(heap, (-pair_counts[p], p))
            else:
                del pair_counts[p]
    return vocab


def count_words(texts: Iterable[str | os.PathLike]) -> Counter[str]:
    """Word counts after BERT's normalizer and pre-tokenizer (as the trained tokenizer will see words)."""
    from tokenizers import normalizers, pre_tokenizers

    normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    counts: Counter[str] = Counter()
    for text in _lines(texts):
        counts.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    return counts


def train_tokenizer(
    texts: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
) -> Path:
    """Learn a WordPiece vocabulary on ``texts``, save the tokenizer to ``out_dir`` and return ``out_dir``.

    ``texts`` mixes texts (``str``) and files (``pathlib.Path``): ``.jsonl`` files contribute the ``text`` field
    of each row (as in the world's ``mlm`` files, see :func:`world_texts`), other files one text per line.
    The same texts give byte-identical files, whatever their order.
    """
    from tokenizers import models

    vocab = learn_wordpiece_vocab(count_words(texts), vocab_size)
    model = models.WordPiece({token: i for i, token in enumerate(vocab)}, unk_token="[UNK]")
    out_dir = Path(out_dir)
    bert_style_fast_tokenizer(model).save_pretrained(out_dir)
    return out_dir


def wordpiece_tokenizer(words: list[str]):
    """A BERT-style fast tokenizer over a fixed vocabulary (special tokens first, then ``words``)."""
    from tokenizers import models

    vocab = {token: i for i, token in enumerate(dict.fromkeys(SPECIAL_TOKENS + tuple(words)))}
    return bert_style_fast_tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
