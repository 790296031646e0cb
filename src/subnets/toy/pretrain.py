"""Pre-train a tiny encoder or decoder on the toy world's text: the demo's theta0.

One pre-training path for three model families (``model.family``), which differ only in small functions
(:data:`TOY_FAMILIES`, :func:`family_tokenizer`, :func:`model_config`):

* ``bert``: a BERT trained with masked LM, saved like mBERT (``BertForPreTraining``: body, pooler, MLM head);
* ``xlmr``: an XLM-R (``XLMRobertaForMaskedLM``: RoBERTa's position offset, no token types, no dropout) trained
  with masked LM, its tokenizer the toy one with XLM-R's special tokens and markers (``<s> a </s></s> b </s>``);
* ``decoder``: a Llama (``LlamaForCausalLM``, tied input and output embeddings) trained with causal LM, its
  tokenizer the toy one with Llama's special tokens, a pad token of its own, right padding, and the words of the
  decoder NLI adapter's prompt (``Premise:``, ``Hypothesis:``), which the toy scripts lack.

Two kinds of training rows, built from the MLM training documents alone (no NLI data is read, so no NLI label
can leak into theta0):

* Document blocks: the documents of every language cut into blocks as the family's ``mlm`` task does (masked
  LM blocks, or causal LM blocks for a decoder), so the low-resource language is as under-represented as it is in
  the corpus.
* Sentence pairs, laid out as the family's NLI adapter lays out a premise and a hypothesis (BERT: ``[CLS] a [SEP]
  b [SEP]`` with token types 0 and 1; XLM-R: ``<s> a </s></s> b </s>``; a decoder: ``<s> Premise: a </s>
  Hypothesis: b </s>``): ``a`` a sentence of a document, ``b`` a copy of it with words dropped, replaced and
  inserted at random or, for a share of the pairs, such a copy of another sentence of the same language.

Every row is trained with the family's LM objective. Pair rows also train a *match* objective: for each visible
token of ``b``, does the same token occur among the visible tokens of ``a``? (``b`` is the second segment: token
type 1 where the tokenizer has token types, else what follows the first separator, ``</s>``.) MLM on single
documents hardly ever needs a token to look for its copy elsewhere, and a tiny BERT pre-trained on documents alone
stayed at chance on toy NLI: to relate a hypothesis to its premise it must first find which of its words the
premise states. Learning that takes a few hundred steps of pairs, so the run starts with ``pair_steps`` steps on
pairs alone (which also gets document MLM off its plateau sooner), then trains on documents with ``pair_share``
of pairs mixed in. The tiny XLM-R, without token types, needs twice as many pair steps to match as well.

A decoder's sequence classifier reads a pair's last token, whose state causal LM never trains (it predicts
nothing), and a decoder matched as well as the BERT yet stayed at chance on NLI. So a decoder's pair rows also
train a *summary* objective: at every token of ``b``, how many tokens of ``b`` up to it are absent from ``a``
(0, 1, 2, 3 or more), which at the last token is how much of ``b`` is new. The match and summary heads are
pre-training devices only, like ELECTRA's discriminator head: the saved checkpoint is the family's plain
pre-training model.

The model is trained with the project's own training loop (dense, no mask) and saved as the family's hub models
are, in safetensors with its tokenizer, so every task model (LM, token or sequence classification) loads its body
from it with ``from_pretrained``, and only the new task head depends on a run's seed.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from subnets.training import TrainingConfig

if TYPE_CHECKING:
    import datasets
    import torch
    from transformers import PreTrainedTokenizerBase

DEFAULT_PRETRAINING = TrainingConfig(
    learning_rate=1e-3,
    batch_size=64,
    eval_batch_size=128,
    num_epochs=1.0,
    max_steps=2500,
    eval_every=500,
    warmup_steps=150,
    weight_decay=0.01,
    seed=0,
)

# How b is made from a sentence: each word is dropped with probability DROP, else replaced by a random word of
# the language with probability REPLACE, and followed by a random word with probability INSERT.
DROP, REPLACE, INSERT = 0.15, 0.15, 0.1
# Share of pairs whose b is made from another sentence: the model must also see pairs where little matches.
UNRELATED = 0.2
# Held-out pairs (from the validation documents) on which the match head is scored after pre-training.
VALIDATION_PAIRS = 512
SENTENCE_END = re.compile(r"(?<=\.)\s+")  # the toy text attaches the full stop to a sentence's last word


@dataclass(frozen=True)
class ToyModelConfig:
    """The tiny BERT's shape and its pre-training run: ``pair_steps`` steps on sentence pairs alone, then
    ``training.max_steps`` on document blocks and sentence pairs, the pairs ``pair_share`` of those rows. The
    tiny XLM-R and Llama have the same keys (:class:`ToyXLMRConfig`, :class:`ToyDecoderConfig`)."""

    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 512
    max_length: int = 64  # MLM block length, [CLS] and [SEP] included
    pair_share: float = 0.2
    pair_steps: int = 400
    training: TrainingConfig = field(default_factory=lambda: DEFAULT_PRETRAINING)

    def __post_init__(self):
        if not 0.0 <= self.pair_share < 1.0:
            raise ValueError(f"pair_share must be in [0, 1), got {self.pair_share}")
        if self.pair_steps < 0:
            raise ValueError(f"pair_steps must be at least 0, got {self.pair_steps}")

    @classmethod
    def from_dict(cls, values: dict) -> "ToyModelConfig":
        return toy_config_from_dict(cls, values, "toy model")


@dataclass(frozen=True)
class ToyXLMRConfig(ToyModelConfig):
    """The tiny XLM-R: BERT's keys; twice the pair steps, since without token types it learns to match the tokens
    of the second sentence to the first's more slowly (BENCHMARKS.md)."""

    pair_steps: int = 800


@dataclass(frozen=True)
class ToyDecoderConfig(ToyModelConfig):
    """The tiny Llama: BERT's keys; twice the pair steps, which its summary objective needs (BENCHMARKS.md)."""

    pair_steps: int = 800


def toy_config_from_dict(cls, values: dict, what: str):
    """A toy model config dataclass from a config mapping: ``training`` over :data:`DEFAULT_PRETRAINING`, and an
    unknown key is an error naming it."""
    values = dict(values)
    training = TrainingConfig.from_dict({**DEFAULT_PRETRAINING.to_dict(), **values.pop("training", {})})
    unknown = sorted(set(values) - set(cls.__dataclass_fields__))
    if unknown:
        raise ValueError(f"unknown {what} key(s) {unknown}; known: {sorted(cls.__dataclass_fields__)}")
    return cls(training=training, **values)


def _documents(world_dir: Path, languages: list[str]) -> list["datasets.DatasetDict"]:
    """The MLM documents (splits train and validation) of each language, in the order of ``languages``."""
    from subnets.data import load_raw

    return [load_raw("mlm", world_dir / "mlm" / lang, lang) for lang in languages]


def _concatenated(per_language: list["datasets.DatasetDict"]) -> dict[str, "datasets.Dataset"]:
    """Splits train and validation, each concatenated across languages."""
    import datasets

    return {
        split: datasets.concatenate_datasets([raw[split] for raw in per_language]) for split in ("train", "validation")
    }


def unigram_perplexity(train_ids: list[list[int]], eval_labels: list[list[int]], vocab_size: int) -> float:
    """Perplexity of an add-one unigram model fitted on the training tokens, on the masked eval positions.

    The baseline a pre-trained model must beat by far to show it learned context, not token frequencies.
    """
    counts = Counter(token for row in train_ids for token in row)
    total = sum(counts.values()) + vocab_size
    scored = [label for row in eval_labels for label in row if label != -100]
    nll = -sum(math.log((counts[label] + 1) / total) for label in scored) / len(scored)
    return math.exp(nll)


def edited_copy(rng: random.Random, words: list[str], vocabulary: list[str]) -> list[str]:
    """``words`` with each word dropped or replaced, and random words inserted (see DROP, REPLACE, INSERT);
    never empty."""
    edited = []
    for word in words:
        roll = rng.random()
        if roll >= DROP:
            edited.append(word if roll >= DROP + REPLACE else rng.choice(vocabulary))
        if rng.random() < INSERT:
            edited.append(rng.choice(vocabulary))
    return edited or [rng.choice(words)]


def sentence_pairs(texts_per_language: list[list[str]], count: int, seed: int) -> list[tuple[str, str]]:
    """``count`` pairs (a sentence, an edited copy of it or, for a share UNRELATED, of another sentence of its
    language), from the documents ``texts_per_language[i]`` of language ``i``. Sentences are drawn uniformly
    from all documents, so each language gets its share of the text; the words put in come from its own."""
    rng = random.Random(seed)
    sentences = [
        [sentence.removesuffix(".").split() for text in texts for sentence in SENTENCE_END.split(text.strip())]
        for texts in texts_per_language
    ]
    vocabularies = [sorted({word for sentence in language for word in sentence}) for language in sentences]
    languages = range(len(sentences))
    weights = [len(language) for language in sentences]
    pairs = []
    for _ in range(count):
        lang = rng.choices(languages, weights)[0]
        first = rng.choice(sentences[lang])
        source = rng.choice(sentences[lang]) if rng.random() < UNRELATED else first
        second = edited_copy(rng, source, vocabularies[lang])
        pairs.append((" ".join(first) + ".", " ".join(second) + "."))
    return pairs


def _pair_rows(
    pairs: list[tuple[str, str]], tokenizer: "PreTrainedTokenizerBase", max_length: int, family: str | None = None
):
    """Unmasked pair rows, in the storage schema of MLM rows: laid out by the NLI adapter of ``family`` (its
    premise, its hypothesis: the layout NLI will read), or by the tokenizer's own pair template when ``family``
    is None (``[CLS] a [SEP] b [SEP]`` with token types 0 and 1 for the toy WordPiece tokenizer)."""
    import datasets

    from subnets.tasks import get_task
    from subnets.tasks.base import encoded_inputs, token_features

    features = token_features(tokenizer, None)
    if not pairs:
        return datasets.Dataset.from_dict({name: [] for name in features}, features=features)
    if family is None:
        encoding = tokenizer([a for a, _ in pairs], [b for _, b in pairs], truncation=True, max_length=max_length)
        return datasets.Dataset.from_dict(encoded_inputs(encoding, tokenizer), features=features)
    raw = datasets.Dataset.from_dict(
        {"premise": [a for a, _ in pairs], "hypothesis": [b for _, b in pairs], "label": [0] * len(pairs)}
    )
    rows = get_task("nli", family).tokenize(raw, tokenizer, max_length=max_length, split="pairs", seed=0)
    return rows.remove_columns("labels")


def pair_marks(tokenizer: "PreTrainedTokenizerBase", family: str | None = None) -> int:
    """Tokens a pair row of ``family`` has besides the words of its two sentences (BERT: 3)."""
    return len(_pair_rows([("", "")], tokenizer, 64, family)[0]["input_ids"])


def second_segment(input_ids: "torch.Tensor", token_type_ids: "torch.Tensor | None", separator_id: int | None):
    """Where the second segment of each row is (1) and is not (0): its token types where the rows have them,
    else every position after the row's first ``separator_id`` (none in a single document block)."""
    if token_type_ids is not None:
        return token_type_ids
    separators = (input_ids == separator_id).long()
    return ((separators.cumsum(dim=-1) - separators) > 0).long()


def match_targets(input_ids: "torch.Tensor", segments: "torch.Tensor", ignored_ids: list[int]):
    """Per token of the second segment (``segments`` 1, see :func:`second_segment`): 1.0 if the same id occurs in
    the first segment (0) of its row, else 0.0. Tokens of the first segment, and ``ignored_ids`` (special tokens:
    padding, [MASK]) anywhere, get -100."""
    import torch

    visible = ~torch.isin(input_ids, torch.tensor(ignored_ids, device=input_ids.device))
    first, second = visible & (segments == 0), visible & (segments == 1)
    same = input_ids[:, :, None] == input_ids[:, None, :]  # (row, token, token of the first segment)
    found = (same & first[:, None, :]).any(dim=-1)
    return torch.where(second, found.float(), torch.full(found.shape, -100.0, device=found.device))


# Heads of the pre-training objectives only, not saved with the checkpoint.
PRETRAINING_HEADS = ("match_head.", "summary_head.")
# The summary objective's classes: 0, 1, ... SUMMARY_CLASSES - 1 or more tokens of b absent from a so far.
SUMMARY_CLASSES = 4


def summary_targets(
    targets: "torch.Tensor", segments: "torch.Tensor", attention_mask: "torch.Tensor", classes: int = SUMMARY_CLASSES
) -> "torch.Tensor":
    """At every real token of the second segment (``segments`` 1, ``attention_mask`` 1; special tokens included):
    how many visible tokens of the second segment up to it the first segment lacks (from the match ``targets``,
    see :func:`match_targets`), capped at ``classes - 1``; -100 elsewhere. At a pair's last token (the one a
    decoder's sequence classifier reads): how much of b is new."""
    import torch

    absent = (targets == 0).long().cumsum(dim=-1).clamp(max=classes - 1)
    scored = (segments == 1) & attention_mask.bool()
    return torch.where(scored, absent, torch.full_like(absent, -100))


def _pair_aware(
    lm_class: type,
    model_config,
    ignored_ids: list[int],
    separator_id: int | None,
    summary: bool = False,
):
    """An ``lm_class`` model (``BertForMaskedLM``, ``XLMRobertaForMaskedLM``, ``LlamaForCausalLM``) with a match
    head on its last hidden states, whose loss adds the match objective on sentence-pair rows to its own. With
    ``summary``, a summary head too, on the last hidden states of the second segment (:func:`summary_targets`):
    how many of its tokens so far are absent from the first, which a decoder's last token then knows.

    The class is made here, not at module level, so that importing this module does not import torch (the
    workflow reads ``ToyModelConfig`` when it parses its rules). Its LM weights are drawn first, as a plain
    model's are, then the heads'.
    """
    import torch

    class PairAware(lm_class):
        def __init__(self, config):
            super().__init__(config)
            self.match_head = torch.nn.Linear(config.hidden_size, 1)
            self.summary = summary
            if summary:
                self.summary_head = torch.nn.Linear(config.hidden_size, SUMMARY_CLASSES)

        def match_logits(self, hidden: torch.Tensor) -> torch.Tensor:
            return self.match_head(hidden).squeeze(-1)

        def summary_logits(self, hidden: torch.Tensor) -> torch.Tensor:
            return self.summary_head(hidden)

        def segments(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None) -> torch.Tensor:
            return second_segment(input_ids, token_type_ids, separator_id)

        def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
            types = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            outputs = super().forward(
                input_ids=input_ids, attention_mask=attention_mask, labels=labels, output_hidden_states=True, **types
            )
            if labels is None:
                return outputs
            segments = self.segments(input_ids, token_type_ids)
            targets = match_targets(input_ids, segments, ignored_ids)
            scored = targets != -100
            if scored.any():  # document blocks have no second segment
                logits = self.match_logits(outputs.hidden_states[-1])
                match_loss = torch.nn.functional.binary_cross_entropy_with_logits
                outputs.loss = outputs.loss + match_loss(logits[scored], targets[scored])
                if summary:
                    mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
                    counts = summary_targets(targets, segments, mask)
                    logits = self.summary_logits(outputs.hidden_states[-1])
                    summary_loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), counts.flatten())
                    outputs.loss = outputs.loss + summary_loss
            return outputs

    PairAware.__name__ = PairAware.__qualname__ = f"PairAware{lm_class.__name__}"
    return PairAware(model_config)


def match_accuracy(model, rows: "datasets.Dataset", tokenizer, ignored_ids: list[int], batch_size: int) -> dict:
    """On the pair ``rows``: the accuracy of ``model``'s match head (``match_accuracy``) and that of always
    answering the majority (``match_majority``); of its summary head, if it has one, likewise (``summary_*``)."""
    import torch
    from transformers import DataCollatorWithPadding

    collate = DataCollatorWithPadding(tokenizer)
    correct = total = found = 0
    summaries, predicted_summaries = [], []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            batch = collate(rows.select(range(start, min(start + batch_size, len(rows)))).to_list())
            batch = {name: tensor.to(model.device) for name, tensor in batch.items()}
            segments = model.segments(batch["input_ids"], batch.get("token_type_ids"))
            targets = match_targets(batch["input_ids"], segments, ignored_ids)
            scored = targets != -100
            hidden = model(**batch).hidden_states[-1]
            predicted = (model.match_logits(hidden) > 0).float()
            correct += int((predicted[scored] == targets[scored]).sum())
            total += int(scored.sum())
            found += int(targets[scored].sum())
            if model.summary:  # scored at each pair's last token, which a decoder's sequence classifier reads
                counts = summary_targets(targets, segments, batch["attention_mask"])
                index, last = torch.arange(len(hidden)), batch["attention_mask"].cumsum(dim=-1).argmax(dim=-1)
                summaries += counts[index, last].tolist()
                predicted_summaries += model.summary_logits(hidden)[index, last].argmax(dim=-1).tolist()
    metrics = {"match_accuracy": correct / total, "match_majority": max(found, total - found) / total}
    if summaries:
        metrics["summary_accuracy"] = sum(map(int.__eq__, summaries, predicted_summaries)) / len(summaries)
        metrics["summary_majority"] = Counter(summaries).most_common(1)[0][1] / len(summaries)
    return metrics


def _training_rows(world_dir: Path, languages: list[str], tokenizer, config, task=None, family=None) -> dict:
    """Tokenised rows: ``blocks`` (the training documents), ``warmup`` (pairs for the ``pair_steps``),
    ``train`` (the blocks and ``pair_share`` of other pairs), ``validation`` (masked validation blocks) and
    ``validation_pairs`` (pairs from the validation documents). ``config`` is a :class:`ToyModelConfig` or
    anything with its ``max_length``, ``pair_steps``, ``pair_share`` and ``training``; ``task`` tokenises the
    documents (default: the ``mlm`` task of ``family``, BERT's when None; the toy mT5 passes its span
    corruption); pairs are laid out by :func:`_pair_rows` for ``family``."""
    import datasets

    from subnets.tasks import get_task

    task = task or get_task("mlm", family or "bert")
    seed = config.training.seed
    documents = _documents(world_dir, languages)
    rows = {
        split: task.tokenize(corpus, tokenizer, max_length=config.max_length, split=split, seed=seed)
        for split, corpus in _concatenated(documents).items()
    }
    rows["blocks"] = rows["train"]
    n_warmup = config.pair_steps * config.training.batch_size
    n_mixed = round(len(rows["blocks"]) * config.pair_share / (1 - config.pair_share))
    pairs = sentence_pairs([raw["train"]["text"] for raw in documents], n_warmup + n_mixed, seed)
    # Half the block length of words, and the layout's marks ([CLS] and two [SEP] for BERT, a decoder's prompt): a
    # batch is padded to its longest row, and a batch of pairs alone then costs about half as much (BERT's pairs
    # average 27 tokens, the longest of 32 about 55). The pairs among the blocks are whole.
    warmup_length = config.max_length // 2 + (pair_marks(tokenizer, family) - 3 if family else 0)
    rows["warmup"] = _pair_rows(pairs[:n_warmup], tokenizer, warmup_length, family)
    rows["train"] = datasets.concatenate_datasets(
        [rows["blocks"], _pair_rows(pairs[n_warmup:], tokenizer, config.max_length, family)]
    )
    held_out = sentence_pairs([raw["validation"]["text"] for raw in documents], VALIDATION_PAIRS, seed)
    rows["validation_pairs"] = _pair_rows(held_out, tokenizer, config.max_length, family)
    return rows


def pairs_then_documents(model, task, tokenizer, rows: dict, config, name: str, progress: bool, document_task=None):
    """Train ``model`` in place: ``config.pair_steps`` steps on ``rows["warmup"]`` (if any), then the document
    run on ``rows["train"]`` (with ``document_task``'s objective where given, else ``task``'s), which starts where
    the pair run ended; both evaluated on ``rows["validation"]``. Returns the document run's result."""
    from subnets.training import MaskedTrainer

    if config.pair_steps:
        on_pairs = replace(config.training, max_steps=config.pair_steps, eval_every=config.pair_steps)
        MaskedTrainer(
            model, task, tokenizer, rows["warmup"], rows["validation"], on_pairs,
            description=f"pre-train {name} on sentence pairs", progress=progress,
        ).train()  # fmt: skip
    return MaskedTrainer(
        model, document_task or task, tokenizer, rows["train"], rows["validation"], config.training,
        description=f"pre-train {name}", progress=progress,
    ).train()  # fmt: skip


@dataclass(frozen=True)
class ToyFamily:
    """What the toy model of one model family is: its name in logs, its config class (the ``toy.model`` keys), the
    ``transformers`` class pre-trained (with the match head added), the class saved (as the family's hub models
    are saved), the saved weights that pre-training leaves untrained (name fragments; drawn from the seed), and
    whether pair rows train the summary objective too (see :func:`_pair_aware`)."""

    name: str
    config: type
    pretrained: str
    saved: str
    untrained: tuple[str, ...] = ()
    summary: bool = False


TOY_FAMILIES: dict[str, ToyFamily] = {
    # mBERT's checkpoint: the pooler (untrained here, seeded) and the NSP head come with it, so a sequence
    # classifier's pooler is part of theta0's body, not of its seeded head.
    "bert": ToyFamily(
        "toy BERT", ToyModelConfig, "BertForMaskedLM", "BertForPreTraining", untrained=("pooler", "seq_relationship")
    ),
    # XLM-R's checkpoint is its masked LM; its sequence classifier has no pooler.
    "xlmr": ToyFamily("toy XLM-R", ToyXLMRConfig, "XLMRobertaForMaskedLM", "XLMRobertaForMaskedLM"),
    # A decoder's sequence classifier reads the last token, which causal LM never trains (it predicts nothing):
    # the summary objective does.
    "decoder": ToyFamily("toy Llama", ToyDecoderConfig, "LlamaForCausalLM", "LlamaForCausalLM", summary=True),
}
# Every model family with a toy model (model.source: toy); t5's is subnets.toy.pretrain_t5.
TOY_MODEL_FAMILIES = (*TOY_FAMILIES, "t5")


def toy_model_config_class(family: str) -> type:
    """The config dataclass of ``family``'s toy model (its ``toy.model`` keys and their defaults)."""
    if family == "t5":
        from subnets.toy.pretrain_t5 import ToyT5Config

        return ToyT5Config
    if family not in TOY_FAMILIES:
        raise ValueError(f"no toy model for model family {family!r}; toy models: {', '.join(TOY_MODEL_FAMILIES)}")
    return TOY_FAMILIES[family].config


def toy_pretraining(family: str) -> Callable[..., dict]:
    """The function that pre-trains ``family``'s toy model: ``(world_dir, tokenizer_dir, out_dir, config, *,
    progress) -> metrics``, ``config`` of :func:`toy_model_config_class`."""
    from functools import partial

    if family == "t5":
        from subnets.toy.pretrain_t5 import pretrain_toy_t5

        return pretrain_toy_t5
    toy_model_config_class(family)  # an unknown family fails here
    return partial(pretrain_toy_model, family=family)


def prompt_words(family: str) -> list[str]:
    """Words of the family's NLI prompt (the decoder adapter's ``Premise:`` and ``Hypothesis:``), as the toy
    tokenizer's pre-tokenizer splits them; none for encoders, which mark a pair with special tokens."""
    if family != "decoder":
        return []
    from tokenizers import normalizers, pre_tokenizers

    from subnets.tasks.decoder import DecoderNLITask

    nli = DecoderNLITask()
    text = nli.premise_template.format(premise="") + " " + nli.hypothesis_template.format(hypothesis="")
    text = normalizers.BertNormalizer(lowercase=False, strip_accents=False).normalize_str(text)
    return list(dict.fromkeys(word for word, _ in pre_tokenizers.BertPreTokenizer().pre_tokenize_str(text)))


def family_tokenizer(family: str, tokenizer_dir: str | os.PathLike) -> "PreTrainedTokenizerBase":
    """The toy tokenizer in ``tokenizer_dir`` as the family's model reads text: as it is for BERT, with XLM-R's
    or Llama's special tokens and markers for ``xlmr`` and ``decoder`` (:mod:`subnets.toy.tokenizer`)."""
    from transformers import AutoTokenizer

    from subnets.toy.tokenizer import LLAMA_STYLE, ROBERTA_STYLE, restyled_tokenizer

    if family == "bert":
        return AutoTokenizer.from_pretrained(tokenizer_dir)
    style = {"xlmr": ROBERTA_STYLE, "decoder": LLAMA_STYLE}[family]
    return restyled_tokenizer(tokenizer_dir, style, prompt_words(family))


def model_config(family: str, config: ToyModelConfig, tokenizer: "PreTrainedTokenizerBase"):
    """The ``transformers`` config of ``family``'s toy model of ``config``'s shape over ``tokenizer``."""
    import transformers

    shape = {"vocab_size": len(tokenizer), "hidden_size": config.hidden_size,
             "num_hidden_layers": config.num_layers, "num_attention_heads": config.num_heads,
             "intermediate_size": config.intermediate_size, "pad_token_id": tokenizer.pad_token_id}  # fmt: skip
    positions = max(128, config.max_length)
    if family == "bert":
        return transformers.BertConfig(max_position_embeddings=positions, **shape)
    if family == "xlmr":
        # RoBERTa numbers positions from pad_token_id + 1 (padding keeps pad_token_id): XLM-R's 514 for 512 tokens.
        # No dropout: with XLM-R's 0.1 the tiny model's NLI fine-tuning did not move off chance (BENCHMARKS.md).
        return transformers.XLMRobertaConfig(
            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
            max_position_embeddings=positions + tokenizer.pad_token_id + 1, type_vocab_size=1,
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, **shape,
        )  # fmt: skip
    # Llama: rotary positions, no biases, no dropout; input and output embeddings tied (as Qwen2.5-0.5B and
    # Gemma; at this size an untied output layer would add a sixth to the parameters).
    return transformers.LlamaConfig(
        max_position_embeddings=positions, num_key_value_heads=config.num_heads, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, **shape,
    )  # fmt: skip


def _scored_tokens(validation: "datasets.Dataset") -> list[list[int]]:
    """The tokens the LM's perplexity scores on each validation row (-100 elsewhere): the masked ones (labels),
    or for causal LM (no labels column) every token after the first."""
    if "labels" in validation.column_names:
        return validation["labels"]
    return [ids[1:] for ids in validation["input_ids"]]


def pretrain_toy_model(
    world_dir: str | os.PathLike,
    tokenizer_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    config: ToyModelConfig | None = None,
    family: str = "bert",
    *,
    progress: bool = True,
) -> dict:
    """Pre-train ``family``'s tiny model (``bert``, ``xlmr`` or ``decoder``; ``config`` by default the family's
    defaults) on the world in ``world_dir``, with the toy tokenizer of ``tokenizer_dir`` in the family's style,
    and save it with that tokenizer to ``out_dir``; return its metrics (perplexity of its LM objective, an add-one
    unigram model's on the same tokens, the accuracy of the match head and, if any, of the summary head)."""
    import torch
    import transformers

    from subnets.tasks import get_task

    if family not in TOY_FAMILIES:
        raise ValueError(f"no toy model for model family {family!r}; known: {', '.join(TOY_FAMILIES)}")
    kind = TOY_FAMILIES[family]
    config = config or kind.config()
    world_dir = Path(world_dir)
    manifest = json.loads((world_dir / "world.json").read_text())
    languages = list(manifest["languages"])
    tokenizer = family_tokenizer(family, tokenizer_dir)
    rows = _training_rows(world_dir, languages, tokenizer, config, family=family)
    seed = config.training.seed

    architecture = model_config(family, config, tokenizer)
    torch.manual_seed(seed)
    # Special tokens and a decoder's prompt words are never matched: they are in every pair.
    ignored = tokenizer.all_special_ids + tokenizer.convert_tokens_to_ids(prompt_words(family))
    separator = tokenizer.eos_token_id if tokenizer.sep_token_id is None else tokenizer.sep_token_id
    model = _pair_aware(getattr(transformers, kind.pretrained), architecture, ignored, separator, kind.summary)
    task = get_task("mlm", family)
    result = pairs_then_documents(model, task, tokenizer, rows, config, kind.name, progress)
    model.load_state_dict(result.peak_state)
    matched = match_accuracy(model, rows["validation_pairs"], tokenizer, ignored, config.training.eval_batch_size)

    # The match and summary heads stay behind: no task uses them.
    torch.manual_seed(seed)
    checkpoint = getattr(transformers, kind.saved)(architecture)
    body = {name: value for name, value in result.peak_state.items() if not name.startswith(PRETRAINING_HEADS)}
    missing, unexpected = checkpoint.load_state_dict(body, strict=False)
    not_carried = [k for k in missing if not any(part in k for part in kind.untrained)]
    if unexpected or not_carried:
        raise RuntimeError(f"pre-trained weights do not map onto {kind.saved}: {unexpected + not_carried}")

    metrics = pretraining_metrics(languages, config, checkpoint, rows, result, tokenizer, family=family, **matched)
    save_toy_model(out_dir, checkpoint, tokenizer, metrics)
    return metrics


def pretraining_metrics(languages: list[str], config, checkpoint, rows: dict, result, tokenizer, **extra) -> dict:
    """What a toy model's ``pretraining.json`` records: its languages, config, size, training rows, the peak
    perplexity of its LM objective and an add-one unigram model's on the same tokens, the training run's
    summary, and ``extra`` (the match head's accuracy, ...)."""
    baseline = unigram_perplexity(rows["blocks"]["input_ids"], _scored_tokens(rows["validation"]), len(tokenizer))
    return {
        "languages": languages,
        "model": asdict(config) | {"training": config.training.to_dict()},
        "parameters": sum(p.numel() for p in checkpoint.parameters()),
        "train_blocks": len(rows["blocks"]),
        "train_pairs": len(rows["train"]) - len(rows["blocks"]),
        "warmup_pairs": len(rows["warmup"]),
        "validation_blocks": len(rows["validation"]),
        "perplexity": result.peak_metric,
        "unigram_perplexity": baseline,
        **extra,
        **result.summary(),
    }


def pretrain_toy_bert(
    world_dir: str | os.PathLike,
    tokenizer_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    config: ToyModelConfig = ToyModelConfig(),
    *,
    progress: bool = True,
) -> dict:
    """:func:`pretrain_toy_model` for the tiny BERT."""
    return pretrain_toy_model(world_dir, tokenizer_dir, out_dir, config, "bert", progress=progress)


def save_toy_model(out_dir: str | os.PathLike, model, tokenizer, metrics: dict) -> None:
    """Write a pre-trained toy model as a hub model is laid out (safetensors, tokenizer) plus its
    ``pretraining.json``, atomically: complete under ``out_dir`` or not there at all."""
    from subnets.io import atomic_path

    with atomic_path(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "pretraining.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
