"""Natural language inference on XNLI: sentence-pair classification scored by accuracy.

Raw schema (XNLI on the hub): ``premise``, ``hypothesis`` (strings) and ``label`` (0 entailment,
1 neutral, 2 contradiction). Any other label value, -1 included, is a schema error.
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
    is_string_type,
    percent,
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

NLI_LABELS: tuple[str, ...] = ("entailment", "neutral", "contradiction")


class Accuracy(MetricAccumulator):
    """Share of rows whose arg-max logit is the label, in percent (0-100)."""

    def __init__(self) -> None:
        self.correct = 0
        self.total = 0

    def add(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        predictions = logits.argmax(dim=-1).cpu()
        self.correct += int((predictions == labels.cpu()).sum())
        self.total += labels.numel()

    def compute(self) -> float:
        if self.total == 0:
            raise ValueError("Accuracy.compute: no examples were added")
        return percent(self.correct, self.total)


@dataclass(frozen=True)
class NLITask(Task):
    """XNLI. ``label_names`` fixes the meaning of the integer labels (and the model's id2label)."""

    label_names: tuple[str, ...] = NLI_LABELS

    name: ClassVar[str] = "nli"
    metric_name: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True
    raw_columns: ClassVar[tuple[str, ...]] = ("premise", "hypothesis", "label")

    def model_class(self) -> type:
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification

    def model_kwargs(self) -> dict:
        return {
            "num_labels": len(self.label_names),
            "id2label": dict(enumerate(self.label_names)),
            "label2id": {label: i for i, label in enumerate(self.label_names)},
        }

    def check_raw(self, dataset: datasets.Dataset, source: str, split: str) -> None:
        require_rows_and_columns(dataset, self.raw_columns, source, split)
        for column in ("premise", "hypothesis"):
            require_arrow_type(dataset, column, is_string_type, "strings", source, split)
        require_arrow_type(dataset, "label", is_integer_type, "integers", source, split)
        require_class_names(dataset, "label", self.label_names, source, split)
        for offset, table in arrow_batches(dataset, ["label"]):
            require_int_range(
                table.column("label"),
                0,
                len(self.label_names) - 1,
                "label",
                lambda i, offset=offset: offset + i,
                source,
                split,
            )

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

        def encode(batch: dict[str, list]) -> dict[str, list]:
            encoding = tokenizer(batch["premise"], batch["hypothesis"], truncation=True, max_length=max_length)
            return {**encoded_inputs(encoding, tokenizer), "labels": batch["label"]}

        return dataset.map(
            encode,
            batched=True,
            remove_columns=dataset.column_names,
            features=token_features(tokenizer, datasets.Value("int64")),
            desc=f"tokenise nli/{split}",
        )

    def train_collator(self, tokenizer: PreTrainedTokenizerBase) -> Collator:
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(tokenizer)

    def eval_collator(self, tokenizer: PreTrainedTokenizerBase) -> Collator:
        return self.train_collator(tokenizer)

    def new_metric(self) -> Accuracy:
        return Accuracy()
