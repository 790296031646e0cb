"""NER's word-level labels with the tokenizer schemas of real multilingual models (issue 18), built offline.

Byte-level BPE (RoBERTa, GPT-2, Qwen2, BLOOM, Llama-3) marks a word start with the space before it, which
pre-split words lack; SentencePiece-style ones (XLM-R's Unigram, Llama-2's Metaspace) mark it themselves. Each
tokenizer is trained on a few sentences with the ``tokenizers`` library, wrapped in its model's transformers class,
saved, and loaded back as the workflow loads it (``AutoTokenizer.from_pretrained`` of the model directory).
"""

from __future__ import annotations

import json

import pytest

SENTENCES = ["Anna lives in Berlin .", "The United Nations met in New York", "Bärbel's notes reached Ōsaka"] * 4
ROWS = {"tokens": [s.split() for s in SENTENCES[:3]], "ner_tags": [[1, 0, 0, 5, 0], [0, 3, 4, 4, 0, 5, 6], [1, 0, 0, 5]]}
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
ROLES = dict(bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>")
ENCODER_ROLES = dict(ROLES, mask_token="<mask>", sep_token="</s>", cls_token="<s>")


def byte_level_bpe():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)  # as GPT-2's and Qwen2's files
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    tokenizer.train_from_iterator(SENTENCES, trainer)
    return tokenizer


def metaspace(model: str):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if model == "unigram":  # XLM-R
        tokenizer = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(vocab_size=150, special_tokens=SPECIALS, unk_token="<unk>")
    else:  # Llama-2: BPE over Metaspace pieces
        tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
        trainer = trainers.BpeTrainer(vocab_size=150, special_tokens=SPECIALS)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.train_from_iterator(SENTENCES, trainer)
    return tokenizer


SCHEMAS = {  # name: (backend, transformers class, roles)
    "roberta": (byte_level_bpe, "RobertaTokenizerFast", ENCODER_ROLES),
    "gpt2": (byte_level_bpe, "GPT2TokenizerFast", ROLES),
    "qwen2": (byte_level_bpe, "Qwen2TokenizerFast", ROLES),
    "bloom": (byte_level_bpe, "PreTrainedTokenizerFast", ROLES),  # transformers 5 has no BloomTokenizerFast
    "xlmr": (lambda: metaspace("unigram"), "XLMRobertaTokenizerFast", ENCODER_ROLES),
    "llama2": (lambda: metaspace("bpe"), "LlamaTokenizerFast", ROLES),
}
CASES = [("roberta", "xlmr"), ("xlmr", "xlmr"), ("gpt2", "decoder"), ("qwen2", "decoder"), ("bloom", "decoder"),
         ("llama2", "decoder"), ("roberta", "decoder")]  # fmt: skip


def saved_tokenizer(schema: str, path):
    """The schema's tokenizer saved to ``path`` and loaded back as subnets.job.Job.tokenizer loads it."""
    import transformers
    from transformers import AutoTokenizer

    backend, cls, roles = SCHEMAS[schema]
    getattr(transformers, cls)(tokenizer_object=backend(), **roles).save_pretrained(path)
    return AutoTokenizer.from_pretrained(path)


@pytest.mark.parametrize("schema,family", CASES)
def test_every_words_first_sub_token_carries_its_label(schema, family, tmp_path):
    import datasets

    from subnets.tasks import get_task

    tokenizer = saved_tokenizer(schema, tmp_path)
    pre_tokenizer = lambda: json.loads(tokenizer.backend_tokenizer.to_str())["pre_tokenizer"]  # noqa: E731
    before = pre_tokenizer()
    rows = get_task("ner", family).tokenize(datasets.Dataset.from_dict(ROWS), tokenizer, max_length=64, split="t",
                                            seed=0)  # fmt: skip
    assert pre_tokenizer() == before  # the text tasks' tokenizer is left as it was
    for words, tags, row in zip(ROWS["tokens"], ROWS["ner_tags"], rows):
        assert "token_type_ids" not in row or family != "decoder"
        pieces = tokenizer.convert_ids_to_tokens(row["input_ids"])
        specials = set(tokenizer.all_special_tokens)
        # Split the sequence at the labelled sub-tokens: each labelled one opens a word, the rest follow it.
        spans, labels = [], []
        for piece, label in zip(pieces, row["labels"]):
            if piece in specials:
                assert label == -100
            elif label != -100:
                spans.append([piece])
                labels.append(label)
            else:
                assert spans, f"{schema}: a sub-token before the first word is unlabelled: {pieces}"
                spans[-1].append(piece)
        assert labels == tags
        # Each word is exactly its sub-tokens, and begins with the schema's word-start marker (Ġ or ▁).
        marker = "▁" if schema in ("xlmr", "llama2") else "Ġ"
        for word, span in zip(words, spans):
            assert span[0].startswith(marker), f"{schema}: {word!r} tokenised as a word continuation {span}"
            assert tokenizer.convert_tokens_to_string(span).replace(" ", "") == word


def test_a_slow_tokenizer_is_refused_with_the_reason():
    from subnets.tasks.ner import word_level_tokenizer

    class SlowTokenizer:
        is_fast = False

    with pytest.raises(ValueError, match="fast tokenizer.*word_ids"):
        word_level_tokenizer(SlowTokenizer())
