"""The task interface the training loop consumes, and schema checks shared by the task adapters.

A task adapter knows everything task-specific about one of the paper's three tasks (MLM, WikiAnn NER,
XNLI): which model head to load, how to check and tokenise the raw dataset, how to collate batches and
how to score predictions. The training loop and the data preparation stay task-agnostic.

Heavy libraries (torch, transformers, datasets, pyarrow) are imported inside the methods that need them:
small aggregate jobs that only ask ``get_task(name).higher_is_better`` should not pay seconds of imports.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    import datasets
    import pyarrow as pa
    import torch
    from transformers import PreTrainedTokenizerBase

Collator = Callable[[list[dict]], "dict[str, torch.Tensor]"]


class MetricAccumulator(abc.ABC):
    """Accumulates one evaluation pass batch by batch; ``compute`` gives the pass's metric."""

    @abc.abstractmethod
    def add(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        """Record one eval batch: the model's logits (any device or dtype) and the batch's labels."""

    @abc.abstractmethod
    def compute(self) -> float:
        """The metric over everything added so far; ValueError if nothing scorable was added."""


class Task(abc.ABC):
    """One task of the study. Concrete tasks are frozen dataclasses (their fields are task options)."""

    name: ClassVar[str]
    metric_name: ClassVar[str]
    higher_is_better: ClassVar[bool]
    raw_columns: ClassVar[tuple[str, ...]]
    """Columns of the raw schema; loaders keep exactly these."""

    @abc.abstractmethod
    def model_class(self) -> type:
        """The transformers Auto class whose ``from_pretrained`` builds the task model."""

    def model_kwargs(self) -> dict:
        """Extra keyword arguments for ``model_class().from_pretrained`` (label count and names)."""
        return {}

    @abc.abstractmethod
    def check_raw(self, dataset: datasets.Dataset, source: str, split: str) -> None:
        """Raise ValueError naming ``source``, ``split`` and the problem if ``dataset`` breaks the schema."""

    @abc.abstractmethod
    def tokenize(
        self,
        dataset: datasets.Dataset,
        tokenizer: PreTrainedTokenizerBase,
        *,
        max_length: int,
        split: str,
        seed: int,
    ) -> datasets.Dataset:
        """Raw rows -> model inputs (input_ids, attention_mask, labels, token_type_ids if the tokenizer has
        them), unpadded: collators pad each batch to its own longest row."""

    @abc.abstractmethod
    def train_collator(self, tokenizer: PreTrainedTokenizerBase) -> Collator:
        """Turns a list of tokenised rows into a padded training batch of tensors."""

    @abc.abstractmethod
    def eval_collator(self, tokenizer: PreTrainedTokenizerBase) -> Collator:
        """Turns a list of tokenised rows into a padded evaluation batch of tensors."""

    @abc.abstractmethod
    def new_metric(self) -> MetricAccumulator:
        """A fresh accumulator for one evaluation pass."""

    def eval_scores(self, model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """What the metric scores for one evaluation batch (no gradients): the model's logits, unless the task
        predicts some other way (a text-to-text task scores its label words)."""
        return model(**batch).logits


# ---------------------------------------------------------------------------------------------------------
# Helpers shared by the adapters


def raw_error(source: str, split: str, problem: str) -> ValueError:
    """The one format of schema errors, so that every message names the data source and the split."""
    return ValueError(f"{source} [split {split!r}]: {problem}")


def require_rows_and_columns(dataset: datasets.Dataset, columns: tuple[str, ...], source: str, split: str) -> None:
    """Empty split first (an empty file has no columns either), then missing columns."""
    if len(dataset) == 0:
        raise raw_error(source, split, "the split is empty")
    missing = [c for c in columns if c not in dataset.column_names]
    if missing:
        raise raw_error(source, split, f"missing column(s) {missing}; present: {dataset.column_names}")


def require_arrow_type(
    dataset: datasets.Dataset,
    column: str,
    predicate: Callable[[pa.DataType], bool],
    expected: str,
    source: str,
    split: str,
) -> None:
    """Check a column's storage type, e.g. that labels are integers and not strings."""
    actual = dataset.data.schema.field(column).type
    if not predicate(actual):
        raise raw_error(source, split, f"column {column!r} should hold {expected}, found {actual}")


def is_string_type(t: pa.DataType) -> bool:
    import pyarrow as pa

    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def is_list_of(t: pa.DataType, inner: Callable[[pa.DataType], bool]) -> bool:
    import pyarrow as pa

    return (pa.types.is_list(t) or pa.types.is_large_list(t)) and inner(t.value_type)


def is_integer_type(t: pa.DataType) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(t)


def require_class_names(
    dataset: datasets.Dataset, column: str, expected: tuple[str, ...], source: str, split: str
) -> None:
    """If the column carries ClassLabel names (hub datasets do), they must be the task's label list:
    the integer ids are only meaningful under that order."""
    import datasets

    feature = dataset.features[column]
    if isinstance(feature, (datasets.List, datasets.Sequence)):
        feature = feature.feature
    if isinstance(feature, datasets.ClassLabel) and tuple(feature.names) != expected:
        raise raw_error(source, split, f"column {column!r} has label names {feature.names}, expected {list(expected)}")


def arrow_batches(
    dataset: datasets.Dataset, columns: list[str], batch_size: int = 65_536
) -> Iterator[tuple[int, pa.Table]]:
    """(offset of the batch's first row, arrow table) over the rows of ``dataset`` in order.

    Goes through ``with_format("arrow")`` so that a shuffled or selected view is read through its indices
    mapping, batch by batch, without materialising the whole split.
    """
    offset = 0
    for table in dataset.select_columns(columns).with_format("arrow").iter(batch_size=batch_size):
        yield offset, table
        offset += table.num_rows


def require_int_range(
    values: pa.Array | pa.ChunkedArray,
    low: int,
    high: int,
    what: str,
    row_of: Callable[[int], int],
    source: str,
    split: str,
) -> None:
    """Every value in [low, high] and none missing; ``row_of`` maps a position in ``values`` to a row number."""
    import numpy as np
    import pyarrow.compute as pc

    if values.null_count:
        first = int(np.flatnonzero(pc.is_null(values).to_numpy(zero_copy_only=False))[0])
        raise raw_error(source, split, f"row {row_of(first)}: missing {what}")
    array = values.to_numpy(zero_copy_only=False)
    bad = np.flatnonzero((array < low) | (array > high))
    if bad.size:
        raise raw_error(
            source, split, f"row {row_of(int(bad[0]))}: {what} {int(array[bad[0]])} is outside {low}..{high}"
        )


def token_features(tokenizer: PreTrainedTokenizerBase, labels) -> datasets.Features:
    """Storage schema of tokenised rows: int32 ids and int8 masks (a quarter of the default int64 on disk;
    the collators turn them into int64 tensors). ``labels`` is the labels feature, or None for none."""
    import datasets

    columns = {
        "input_ids": datasets.List(datasets.Value("int32")),
        "attention_mask": datasets.List(datasets.Value("int8")),
    }
    if "token_type_ids" in tokenizer.model_input_names:
        columns["token_type_ids"] = datasets.List(datasets.Value("int8"))
    if labels is not None:
        columns["labels"] = labels
    return datasets.Features(columns)


def encoded_inputs(encoding, tokenizer: PreTrainedTokenizerBase) -> dict[str, list]:
    """The model-input columns of a tokenizer output (drops offsets, overflow markers and the like)."""
    keep = ["input_ids", "attention_mask"] + (
        ["token_type_ids"] if "token_type_ids" in tokenizer.model_input_names else []
    )
    return {k: encoding[k] for k in keep}


def percent(numerator: float, denominator: float) -> float:
    return 100.0 * numerator / denominator
