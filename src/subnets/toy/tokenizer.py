"""A BERT-style WordPiece tokenizer trained on the toy world's MLM text.

The result is a ``transformers`` fast tokenizer saved with ``save_pretrained``, so the pipeline loads it with
``AutoTokenizer.from_pretrained`` exactly as it loads mBERT's. Special tokens sit at ids 0..4
(:data:`SPECIAL_TOKENS`); casing and accents are kept (the toy scripts need both).

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
from itertools import pairwise
from pathlib import Path

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
DEFAULT_VOCAB_SIZE = 3200


def bert_style_fast_tokenizer(backend):
    """Wrap a WordPiece ``tokenizers.Tokenizer`` (or a bare ``tokenizers.models.WordPiece``) like mBERT's.

    Sets BERT's normalizer (no lowercasing, accents kept), pre-tokenizer, ``[CLS] A [SEP] B [SEP]`` template
    with segment ids, and WordPiece decoder, and returns a ``PreTrainedTokenizerFast`` with BERT's special
    tokens and model inputs. The vocabulary must contain :data:`SPECIAL_TOKENS`.
    """
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tokenizer = backend if isinstance(backend, Tokenizer) else Tokenizer(backend)
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[(token, tokenizer.token_to_id(token)) for token in ("[CLS]", "[SEP]")],
    )
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )


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
