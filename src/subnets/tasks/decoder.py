"""Task adapters for decoder-only models (model.family ``decoder``: Llama, Qwen2, Mistral, Gemma, BLOOM).

The paper's three tasks, as a decoder-only model can do them:

* ``mlm``: CAUSAL language modelling on the same Wikipedia documents, scored by perplexity of next-token
  prediction over every real token after the first of each block. A decoder has no masked-LM objective, so the
  study's MLM tables (tickets, transfer matrices, overlap) then hold causal-LM perplexity, which is not
  comparable with the masked-LM perplexity of mBERT's rows.
* ``ner``: WikiAnn as token classification (``AutoModelForTokenClassification``), labels on the first
  sub-token of each word as for BERT. A causal model's state at that token has seen only the words to its left.
* ``nli``: XNLI as sequence classification (``AutoModelForSequenceClassification``): the classifier ("score")
  reads the state of the last non-pad token, so the model config needs ``pad_token_id``.

Padding. Decoder tokenizers often have no pad token (Llama, Mistral): :func:`prepare_decoder_tokenizer`,
called when theta0's snapshot is taken, then makes the end-of-sequence token the pad token (Qwen2 and BLOOM
bring their own) and sets the padding side to RIGHT: real tokens keep positions 0..n-1 (the models number
positions from 0 whatever the attention mask says) and, attention being causal, never see the pads after
them. The sequence classifier and the probes find the last non-pad token from the padding itself, so either
side would give them the right token. Inputs never carry token type ids: the decoders take none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from subnets.tasks.base import Collator
from subnets.tasks.mlm import MLMTask, Perplexity, split_into_blocks
from subnets.tasks.ner import NERTask
from subnets.tasks.nli import NLITask

if TYPE_CHECKING:
    import datasets
    import torch
    from transformers import PreTrainedTokenizerBase

PADDING_SIDE = "right"


def prepare_decoder_tokenizer(tokenizer: PreTrainedTokenizerBase, config=None) -> str:
    """Give a decoder's tokenizer a pad token (its end-of-sequence token when it has none) and right padding,
    and the model ``config`` the same ``pad_token_id`` when it has none. Returns the pad token."""
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is None:
            raise ValueError("the decoder's tokenizer has neither a pad nor an end-of-sequence token to pad with")
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = PADDING_SIDE
    if config is not None and getattr(config, "pad_token_id", None) is None:
        config.pad_token_id = tokenizer.pad_token_id
    return tokenizer.pad_token


def _features(labels) -> datasets.Features:
    """int32 ids and int8 masks, as :func:`subnets.tasks.base.token_features`, but never token type ids."""
    import datasets

    columns = {
        "input_ids": datasets.List(datasets.Value("int32")),
        "attention_mask": datasets.List(datasets.Value("int8")),
    }
    if labels is not None:
        columns["labels"] = labels
    return datasets.Features(columns)


def _require_pad(tokenizer: PreTrainedTokenizerBase) -> None:
    if tokenizer.pad_token_id is None:
        raise ValueError("the decoder's tokenizer has no pad token: take theta0's snapshot (prepare_decoder_tokenizer)")


class CausalPerplexity(Perplexity):
    """exp(total cross-entropy / number of scored tokens) of next-token prediction: the logits at position t are
    scored against the label at t + 1 (labels are the inputs, -100 at padding)."""

    def add(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        labels = labels.to(logits.device)
        super().add(logits[:, :-1], labels[:, 1:])


class _CausalLMCollator:
    """Pads rows with the tokenizer (its padding side) and makes the labels: the input ids, -100 at padding."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase):
        _require_pad(tokenizer)
        self.tokenizer = tokenizer

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        import torch

        rows = [{"input_ids": row["input_ids"], "attention_mask": row["attention_mask"]} for row in rows]
        batch = self.tokenizer.pad(rows, return_tensors="pt")
        batch = {key: value.to(torch.long) for key, value in batch.items()}
        batch["labels"] = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        return batch


@dataclass(frozen=True)
class CausalLMTask(MLMTask):
    """The ``mlm`` task of a decoder-only model: causal language modelling, scored by perplexity.

    Blocks as in :class:`~subnets.tasks.mlm.MLMTask` (consecutive slices of each document, the short tail kept
    when it holds ``min_tail_fraction`` of a block), of ``max_length`` tokens, or ``max_length - 1`` after the
    beginning-of-sequence token when the tokenizer has one (Llama, BLOOM; Qwen2 has none). Nothing is masked, so
    training and evaluation rows are alike and deterministic; ``mlm_probability`` is unused. The paper's MLM
    tables then hold causal-LM perplexity.
    """

    def model_class(self) -> type:
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM

    def tokenize(
        self,
        dataset: datasets.Dataset,
        tokenizer: PreTrainedTokenizerBase,
        *,
        max_length: int,
        split: str,
        seed: int,
    ) -> datasets.Dataset:
        bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
        block_size = max_length - len(bos)
        if block_size < 2:
            raise ValueError(f"max_length must leave room for two tokens of each block, got {max_length}")
        min_tail = max(2, self.min_tail_tokens(block_size))  # one token alone predicts nothing

        def encode(batch: dict[str, list]) -> dict[str, list]:
            documents = tokenizer(
                batch["text"],
                add_special_tokens=False,
                return_attention_mask=False,
                return_token_type_ids=False,
                verbose=False,
            )["input_ids"]
            blocks = [[*bos, *block] for ids in documents for block in split_into_blocks(ids, block_size, min_tail)]
            return {"input_ids": blocks, "attention_mask": [[1] * len(b) for b in blocks]}

        return dataset.map(
            encode,
            batched=True,
            remove_columns=dataset.column_names,
            features=_features(None),
            desc=f"tokenise causal lm/{split}",
        )

    def train_collator(self, tokenizer: PreTrainedTokenizerBase) -> Collator:
        return _CausalLMCollator(tokenizer)

    def eval_collator(self, tokenizer: PreTrainedTokenizerBase) -> Collator:
        return _CausalLMCollator(tokenizer)

    def new_metric(self) -> CausalPerplexity:
        return CausalPerplexity()


def _without_token_types(rows: datasets.Dataset) -> datasets.Dataset:
    return rows.remove_columns("token_type_ids") if "token_type_ids" in rows.column_names else rows


@dataclass(frozen=True)
class DecoderNERTask(NERTask):
    """WikiAnn NER for a decoder-only model: BERT's token classification (labels on each word's first sub-token),
    without token type ids. The words go to the tokenizer pre-split (``is_split_into_words``); how it marks word
    starts (a byte-level BPE's leading space) is the tokenizer's own rule."""

    def tokenize(self, dataset: datasets.Dataset, tokenizer: PreTrainedTokenizerBase, **options) -> datasets.Dataset:
        _require_pad(tokenizer)
        return _without_token_types(super().tokenize(dataset, tokenizer, **options))


@dataclass(frozen=True)
class DecoderNLITask(NLITask):
    """XNLI for a decoder-only model: sequence classification of ``premise_template`` followed by
    ``hypothesis_template`` (a decoder tokenizer has no separator of its own between a pair), pooled at the
    last non-pad token by the model, no token type ids. Truncation trims the longer of the two first."""

    premise_template: str = "Premise: {premise}\n"
    hypothesis_template: str = "Hypothesis: {hypothesis}"

    def tokenize(self, dataset: datasets.Dataset, tokenizer: PreTrainedTokenizerBase, **options) -> datasets.Dataset:
        _require_pad(tokenizer)

        def fill(batch: dict[str, list]) -> dict[str, list]:
            return {
                "premise": [self.premise_template.format(premise=p) for p in batch["premise"]],
                "hypothesis": [self.hypothesis_template.format(hypothesis=h) for h in batch["hypothesis"]],
            }

        filled = dataset.map(fill, batched=True, desc="nli templates")
        return _without_token_types(super().tokenize(filled, tokenizer, **options))


__all__ = [
    "PADDING_SIDE",
    "CausalLMTask",
    "CausalPerplexity",
    "DecoderNERTask",
    "DecoderNLITask",
    "prepare_decoder_tokenizer",
]
