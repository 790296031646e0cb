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



def _unpadded(row: list[int]) -> tuple[int, ...]:
    return tuple(token for token in row if token != -100)


class ExactMatch(MetricAccumulator):
    """Share of rows whose predicted token sequence equals the target sequence, in percent; both come padded
    with -100."""

    def __init__(self) -> None:
        self.correct = 0
        self.total = 0

    def add(self, predictions: torch.Tensor, labels: torch.Tensor) -> None:
        for predicted, target in zip(predictions.cpu().tolist(), labels.cpu().tolist()):
            self.correct += int(_unpadded(predicted) == _unpadded(target))
            self.total += 1

    def compute(self) -> float:
        if self.total == 0:
            raise ValueError("ExactMatch.compute: no examples were added")
        return percent(self.correct, self.total)


class _WithLabelTargets:
    """Seq2seq padding, plus every batch carries the label words' targets (``label_targets``, one row per label,
    padded with -100) for constrained decoding."""

    def __init__(self, collator, targets: list[list[int]]):
        import torch

        self.collator = collator
        width = max(map(len, targets))
        self.targets = torch.tensor([t + [-100] * (width - len(t)) for t in targets])

    def __call__(self, rows: list[dict]) -> dict:
        return {**self.collator(rows), "label_targets": self.targets}


@dataclass(frozen=True)
class NLITextToTextTask(NLITask):
    """XNLI as text to text, for encoder-decoder models (mT5): the input is ``xnli premise: ... hypothesis:
    ...``, the target the label word followed by the end-of-sequence token.

    Prediction is constrained decoding over the label words: each label word's target is scored by its summed
    log-probability under teacher forcing and the best one is the generated answer, so the model always answers
    with a label word. Accuracy is the exact match of that answer with the target.
    """

    prompt: str = "xnli premise: {premise} hypothesis: {hypothesis}"

    def model_class(self) -> type:
        from transformers import AutoModelForSeq2SeqLM

        return AutoModelForSeq2SeqLM

    def model_kwargs(self) -> dict:
        return {}

    def label_targets(self, tokenizer: PreTrainedTokenizerBase) -> list[list[int]]:
        """The target ids of each label word (in label order): its pieces, then end of sequence."""
        if tokenizer.eos_token_id is None:
            raise ValueError("text-to-text NLI needs a tokenizer with an end-of-sequence token")
        targets = [
            tokenizer(word, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            for word in self.label_names
        ]
        if len(set(map(tuple, targets))) != len(targets):
            raise ValueError(f"the label words {list(self.label_names)} do not tokenise to distinct targets")
        return targets

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

        targets = self.label_targets(tokenizer)

        def encode(batch: dict[str, list]) -> dict[str, list]:
            texts = [self.prompt.format(premise=p, hypothesis=h) for p, h in zip(batch["premise"], batch["hypothesis"])]
            encoding = tokenizer(texts, truncation=True, max_length=max_length, return_token_type_ids=False)
            return {
                "input_ids": encoding["input_ids"],
                "attention_mask": encoding["attention_mask"],
                "labels": [targets[label] for label in batch["label"]],
            }

        # The encoder-decoder takes no token type ids, whatever the tokenizer offers.
        features = datasets.Features(
            {
                "input_ids": datasets.List(datasets.Value("int32")),
                "attention_mask": datasets.List(datasets.Value("int8")),
                "labels": datasets.List(datasets.Value("int32")),
            }
        )
        return dataset.map(
            encode, batched=True, remove_columns=dataset.column_names, features=features, desc=f"tokenise nli/{split}"
        )

    def train_collator(self, tokenizer: PreTrainedTokenizerBase) -> Collator:
        from transformers import DataCollatorForSeq2Seq

        # Without a model the collator leaves decoder_input_ids out: the model shifts the labels right itself.
        return DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100)

    def eval_collator(self, tokenizer: PreTrainedTokenizerBase) -> Collator:
        return _WithLabelTargets(self.train_collator(tokenizer), self.label_targets(tokenizer))

    def new_metric(self) -> ExactMatch:
        return ExactMatch()

    def eval_scores(self, model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The generated answer of each row, constrained to the label words: the target (padded with -100)
        with the highest summed log-probability. One teacher-forced pass per label word."""
        import torch

        candidates = batch["label_targets"]
        rows = len(batch["input_ids"])
        scores = []
        for target in candidates:
            target = target[target != -100]
            labels = target.repeat(rows, 1)
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels).logits
            log_probs = torch.log_softmax(logits.float(), dim=-1)
            scores.append(log_probs.gather(-1, labels.unsqueeze(-1)).squeeze(-1).sum(dim=-1))
        return candidates[torch.stack(scores, dim=-1).argmax(dim=-1)]
