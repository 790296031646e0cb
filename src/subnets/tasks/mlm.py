"""Masked language modelling on Wikipedia documents, scored by perplexity over masked tokens.

Raw schema: a ``text`` column, one document per row.

Blocks. Each document is tokenised whole and cut into consecutive blocks of ``max_length - 2`` tokens,
each wrapped in [CLS] ... [SEP]. Every full block is kept (the original code kept only the first block of
each document). The trailing remainder becomes a shorter block when it holds at least
``min_tail_fraction`` of a block (default a quarter); shorter remainders, and documents shorter than that,
are dropped, so that the data is not dominated by a long tail of tiny sequences with almost no context.
Set ``min_tail_fraction=0`` to keep every token (e.g. for a corpus of single sentences).

Masking. Training batches are masked afresh each step by ``DataCollatorForLanguageModeling`` (15% of the
non-special tokens; of those 80% [MASK], 10% a random token, 10% unchanged), drawing from torch's global
RNG, which the training loop seeds. Evaluation blocks are masked ONCE, at tokenisation time, by the same
rule, with a generator seeded from the preparation seed and the block's own token ids: every round, run
and seed then scores exactly the same positions, whatever order or subset of blocks is tokenised. The
evaluation rows store the masked input_ids and the labels (original id at masked positions, -100
elsewhere); training rows carry no labels, the collator makes them.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from subnets.tasks.base import (
    Collator,
    MetricAccumulator,
    Task,
    arrow_batches,
    is_string_type,
    raw_error,
    require_arrow_type,
    require_rows_and_columns,
    token_features,
)

if TYPE_CHECKING:
    import datasets
    import torch
    from transformers import PreTrainedTokenizerBase


def split_into_blocks(ids: Sequence[int], block_size: int, min_tail: int) -> list[list[int]]:
    """Consecutive slices of ``block_size`` tokens; a shorter final slice is kept if it has >= ``min_tail``."""
    blocks = [list(ids[start : start + block_size]) for start in range(0, len(ids), block_size)]
    if blocks and len(blocks[-1]) < min(block_size, min_tail):
        blocks.pop()
    return blocks


def block_seed(seed: int, ids: Sequence[int]) -> int:
    """A 63-bit seed determined by the preparation seed and a block's token ids alone."""
    import numpy as np

    digest = hashlib.blake2b(struct.pack("<q", seed) + np.asarray(ids, dtype=np.int64).tobytes(), digest_size=8)
    return int.from_bytes(digest.digest(), "little") >> 1


def mask_block(
    ids: Sequence[int], *, seed: int, special_ids: frozenset[int], mask_id: int, vocab_size: int, probability: float
) -> tuple[list[int], list[int]]:
    """BERT masking of one block, reproducible from (seed, ids): returns (masked ids, labels)."""
    import torch

    generator = torch.Generator().manual_seed(block_seed(seed, ids))
    original = torch.tensor(ids, dtype=torch.long)
    maskable = torch.tensor([i not in special_ids for i in ids], dtype=torch.bool)
    chosen = torch.bernoulli(torch.full(original.shape, probability), generator=generator).bool() & maskable
    to_mask = torch.bernoulli(torch.full(original.shape, 0.8), generator=generator).bool() & chosen
    # half of the remaining 20%: a random token; the other half stays unchanged
    to_random = torch.bernoulli(torch.full(original.shape, 0.5), generator=generator).bool() & chosen & ~to_mask
    random_ids = torch.randint(vocab_size, original.shape, generator=generator)
    masked = torch.where(to_mask, torch.full_like(original, mask_id), original)
    masked = torch.where(to_random, random_ids, masked)
    labels = torch.where(chosen, original, torch.full_like(original, -100))
    return masked.tolist(), labels.tolist()


class Perplexity(MetricAccumulator):
    """exp(total cross-entropy / number of masked tokens) over the whole pass, not a mean of batch means."""

    def __init__(self) -> None:
        self.total_loss = 0.0
        self.count = 0

    def add(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        import torch.nn.functional as F

        labels = labels.to(logits.device)
        scored = labels != -100
        if not scored.any():
            return
        # Select the masked rows before the float cast: full (batch, length, vocab) logits would not fit.
        losses = F.cross_entropy(logits[scored].float(), labels[scored], reduction="none")
        self.total_loss += float(losses.double().sum())
        self.count += int(scored.sum())

    def compute(self) -> float:
        if self.count == 0:
            raise ValueError("Perplexity.compute: no masked tokens were added")
        return math.exp(self.total_loss / self.count)


@dataclass(frozen=True)
class MLMTask(Task):
    """Masked language modelling. Options: the masking rate, and the block rule's ``min_tail_fraction``."""

    mlm_probability: float = 0.15
    min_tail_fraction: float = 0.25

    name: ClassVar[str] = "mlm"
    metric_name: ClassVar[str] = "perplexity"
    higher_is_better: ClassVar[bool] = False
    raw_columns: ClassVar[tuple[str, ...]] = ("text",)

    def __post_init__(self) -> None:
        if not 0.0 < self.mlm_probability < 1.0:
            raise ValueError(f"mlm_probability must be in (0, 1), got {self.mlm_probability}")
        if not 0.0 <= self.min_tail_fraction <= 1.0:
            raise ValueError(f"min_tail_fraction must be in [0, 1], got {self.min_tail_fraction}")

    def model_class(self) -> type:
        from transformers import AutoModelForMaskedLM

        return AutoModelForMaskedLM

    def check_raw(self, dataset: datasets.Dataset, source: str, split: str) -> None:
        require_rows_and_columns(dataset, self.raw_columns, source, split)
        require_arrow_type(dataset, "text", is_string_type, "strings", source, split)
        # Stops at the first batch holding some text: cheap even on a whole Wikipedia.
        for _, table in arrow_batches(dataset, ["text"], batch_size=1024):
            if any(text and text.strip() for text in table.column("text").to_pylist()):
                return
        raise raw_error(source, split, "column 'text' holds no text (every row is empty)")

    def min_tail_tokens(self, block_size: int) -> int:
        return max(1, math.ceil(self.min_tail_fraction * block_size))

    def tokenize(
        self,
        dataset: datasets.Dataset,
        tokenizer: PreTrainedTokenizerBase,
        *,
        max_length: int,
        split: str,
        seed: int,
    ) -> datasets.Dataset:
        import datasets

        if tokenizer.cls_token_id is None or tokenizer.sep_token_id is None or tokenizer.mask_token_id is None:
            raise ValueError("MLM blocks need a tokenizer with [CLS], [SEP] and [MASK] tokens")
        block_size = max_length - 2
        if block_size < 1:
            raise ValueError(f"max_length must leave room for [CLS] and [SEP], got {max_length}")
        min_tail = self.min_tail_tokens(block_size)
        with_types = "token_type_ids" in tokenizer.model_input_names
        masked = split != "train"
        special_ids = frozenset(tokenizer.all_special_ids)
        cls_id, sep_id, mask_id, vocab_size = (
            tokenizer.cls_token_id,
            tokenizer.sep_token_id,
            tokenizer.mask_token_id,
            len(tokenizer),
        )

        def encode(batch: dict[str, list]) -> dict[str, list]:
            documents = tokenizer(
                batch["text"],
                add_special_tokens=False,
                return_attention_mask=False,
                return_token_type_ids=False,
                verbose=False,
            )["input_ids"]
            blocks = [
                [cls_id, *block, sep_id] for ids in documents for block in split_into_blocks(ids, block_size, min_tail)
            ]
            columns: dict[str, list] = {"input_ids": blocks, "attention_mask": [[1] * len(b) for b in blocks]}
            if with_types:
                columns["token_type_ids"] = [[0] * len(b) for b in blocks]
            if masked:
                pairs = [
                    mask_block(
                        b,
                        seed=seed,
                        special_ids=special_ids,
                        mask_id=mask_id,
                        vocab_size=vocab_size,
                        probability=self.mlm_probability,
                    )
                    for b in blocks
                ]
                columns["input_ids"] = [ids for ids, _ in pairs]
                columns["labels"] = [labels for _, labels in pairs]
            return columns

        labels = datasets.List(datasets.Value("int64")) if masked else None
        return dataset.map(
            encode,
            batched=True,
            remove_columns=dataset.column_names,
            features=token_features(tokenizer, labels),
            desc=f"tokenise mlm/{split}",
        )

    def train_collator(self, tokenizer: PreTrainedTokenizerBase) -> Collator:
        from transformers import DataCollatorForLanguageModeling

        return DataCollatorForLanguageModeling(tokenizer, mlm_probability=self.mlm_probability)

    def eval_collator(self, tokenizer: PreTrainedTokenizerBase) -> Collator:
        """Pads only (labels with -100): the evaluation rows are already masked."""
        from transformers import DataCollatorForTokenClassification

        return DataCollatorForTokenClassification(tokenizer)

    def new_metric(self) -> Perplexity:
        return Perplexity()
