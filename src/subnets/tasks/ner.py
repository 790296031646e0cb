"""Named entity recognition on WikiAnn: token classification scored by entity-level F1.

Raw schema (WikiAnn on the hub): ``tokens`` (list of words) and ``ner_tags`` (list of ints, IOB2 over
PER / ORG / LOC in the order of ``NER_LABELS``).

Labels sit on the FIRST sub-token of each word; other sub-tokens and special tokens get -100, so the loss
and the metric see one decision per word (as the original code and XTREME do). The metric is computed over
those first-sub-token positions only: a word cut off by truncation, or one the tokenizer maps to no token
at all, is absent from both the gold and the predicted sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from subnets.tasks.base import (
    Collator,
    MetricAccumulator,
    Task,
    arrow_batches,
    encoded_inputs,
    is_integer_type,
    is_list_of,
    is_string_type,
    raw_error,
    require_arrow_type,
    require_class_names,
    require_int_range,
    require_rows_and_columns,
    token_features,
)

if TYPE_CHECKING:
    import datasets
    import torch
    from transformers import PreTrainedTokenizerBase

NER_LABELS: tuple[str, ...] = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")


def first_subtoken_labels(word_ids: list[int | None], tags: list[int]) -> list[int]:
    """One label per token: the word's tag on its first sub-token, -100 on the rest and on special tokens."""
    labels, previous = [], None
    for word in word_ids:
        labels.append(-100 if word is None or word == previous else tags[word])
        previous = word
    return labels


class SeqevalF1(MetricAccumulator):
    """Entity-level micro F1 (seqeval, default conlleval-style matching), in percent (0-100)."""

    def __init__(self, label_names: tuple[str, ...]):
        self.label_names = label_names
        self.gold: list[list[str]] = []
        self.predicted: list[list[str]] = []

    def add(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        predictions = logits.argmax(dim=-1).cpu()
        labels = labels.cpu()
        for row_pred, row_gold in zip(predictions.tolist(), labels.tolist()):
            kept = [(p, g) for p, g in zip(row_pred, row_gold) if g != -100]
            self.gold.append([self.label_names[g] for _, g in kept])
            self.predicted.append([self.label_names[p] for p, _ in kept])

    def compute(self) -> float:
        from seqeval.metrics import f1_score

        if not self.gold:
            raise ValueError("SeqevalF1.compute: no sequences were added")
        return 100.0 * float(f1_score(self.gold, self.predicted))


def _prefix_space_pre_tokenizer(node: dict) -> bool:
    """Set ``add_prefix_space`` on every ByteLevel pre-tokenizer in a serialised pre-tokenizer (a Sequence holds
    them in ``pretokenizers``); whether one was off."""
    changed = False
    if node.get("type") == "ByteLevel" and not node.get("add_prefix_space", False):
        node["add_prefix_space"], changed = True, True
    for child in node.get("pretokenizers") or []:
        changed = _prefix_space_pre_tokenizer(child) or changed
    return changed


def word_level_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """``tokenizer`` as it must read pre-split words (``is_split_into_words``): a copy whose byte-level
    pre-tokenizer adds a prefix space, or ``tokenizer`` itself when it needs none.

    A byte-level BPE (RoBERTa, GPT-2, Qwen2, BLOOM, Llama-3) marks a word start by the space before it (``Ġ``),
    which pre-split words no longer carry: without ``add_prefix_space`` every word is encoded as if it continued
    the previous one (``in`` instead of ``Ġin``), tokens the model hardly saw at word starts (transformers 5
    raises nothing). RoBERTa's tokenizer is loaded with it for this reason; here it is set on the NER copy only,
    so that text tasks keep the tokenizer as pre-training used it. SentencePiece-style tokenizers (XLM-R, Llama-2:
    Metaspace) and WordPiece mark word starts themselves. A slow tokenizer has no word ids: an error.
    """
    if not tokenizer.is_fast:
        raise ValueError(
            f"NER tokenisation needs a fast tokenizer to map sub-tokens to words (word_ids); "
            f"{type(tokenizer).__name__} is a slow one: save the model with its tokenizer.json (a fast tokenizer)"
        )  # fmt: skip
    import copy
    import json

    from tokenizers import Tokenizer

    state = json.loads(tokenizer.backend_tokenizer.to_str())
    if not state.get("pre_tokenizer") or not _prefix_space_pre_tokenizer(state["pre_tokenizer"]):
        return tokenizer
    fixed = copy.deepcopy(tokenizer)
    fixed._tokenizer = Tokenizer.from_str(json.dumps(state))
    if hasattr(fixed, "add_prefix_space"):
        fixed.add_prefix_space = True
    return fixed


@dataclass(frozen=True)
class NERTask(Task):
    """WikiAnn NER. ``label_names`` fixes the meaning of the integer tags (and the model's id2label)."""

    label_names: tuple[str, ...] = NER_LABELS

    name: ClassVar[str] = "ner"
    metric_name: ClassVar[str] = "f1"
    higher_is_better: ClassVar[bool] = True
    raw_columns: ClassVar[tuple[str, ...]] = ("tokens", "ner_tags")

    def model_class(self) -> type:
        from transformers import AutoModelForTokenClassification

        return AutoModelForTokenClassification

    def model_kwargs(self) -> dict:
        return {
            "num_labels": len(self.label_names),
            "id2label": dict(enumerate(self.label_names)),
            "label2id": {label: i for i, label in enumerate(self.label_names)},
        }

    def check_raw(self, dataset: datasets.Dataset, source: str, split: str) -> None:
        import numpy as np
        import pyarrow.compute as pc

        require_rows_and_columns(dataset, self.raw_columns, source, split)
        require_arrow_type(
            dataset, "tokens", lambda t: is_list_of(t, is_string_type), "lists of strings", source, split
        )
        require_arrow_type(
            dataset, "ner_tags", lambda t: is_list_of(t, is_integer_type), "lists of integers", source, split
        )
        require_class_names(dataset, "ner_tags", self.label_names, source, split)
        for offset, table in arrow_batches(dataset, list(self.raw_columns)):
            tokens, tags = table.column("tokens"), table.column("ner_tags")
            n_tokens = pc.list_value_length(tokens).to_numpy(zero_copy_only=False)
            n_tags = pc.list_value_length(tags).to_numpy(zero_copy_only=False)
            mismatch = np.flatnonzero(n_tokens != n_tags)
            if mismatch.size:
                i = int(mismatch[0])
                raise raw_error(source, split, f"row {offset + i}: {n_tokens[i]} tokens but {n_tags[i]} ner_tags")
            starts = np.concatenate([[0], np.cumsum(n_tags)])  # position of each row's first tag

            def row_of(position: int, offset: int = offset, starts=starts) -> int:
                return offset + int(np.searchsorted(starts, position, side="right")) - 1

            require_int_range(pc.list_flatten(tags), 0, len(self.label_names) - 1, "ner_tag", row_of, source, split)

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

        tokenizer = word_level_tokenizer(tokenizer)

        def encode(batch: dict[str, list]) -> dict[str, list]:
            encoding = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=max_length)
            columns = encoded_inputs(encoding, tokenizer)
            columns["labels"] = [
                first_subtoken_labels(encoding.word_ids(i), tags) for i, tags in enumerate(batch["ner_tags"])
            ]
            return columns

        return dataset.map(
            encode,
            batched=True,
            remove_columns=dataset.column_names,
            features=token_features(tokenizer, datasets.List(datasets.Value("int64"))),
            desc=f"tokenise ner/{split}",
        )

    def train_collator(self, tokenizer: PreTrainedTokenizerBase) -> Collator:
        from transformers import DataCollatorForTokenClassification

        return DataCollatorForTokenClassification(tokenizer)

    def eval_collator(self, tokenizer: PreTrainedTokenizerBase) -> Collator:
        return self.train_collator(tokenizer)

    def new_metric(self) -> SeqevalF1:
        return SeqevalF1(self.label_names)
