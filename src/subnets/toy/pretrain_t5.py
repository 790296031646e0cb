"""Pre-train a tiny mT5-style encoder-decoder on the toy world with T5's span corruption: theta0 of toy mT5
studies.

The model is an ``MT5ForConditionalGeneration`` (gated-GELU feed-forward, relative attention), saved with its
tokenizer like ``google/mt5-base``, so the pipeline loads it with the same Auto classes. Unlike mT5's, its output
layer is tied to the embedding: transformers 5 builds every new MT5 tied whatever ``tie_word_embeddings`` says
(checkpoints with a separate output layer, as google/mt5-*, still load it untied). Neither is ever pruned. Its
tokenizer is the toy world's WordPiece tokenizer plus what a T5 needs and the toy text lacks: sentinel tokens
for span corruption, and the words of the XNLI prompt and labels (``xnli premise: ... hypothesis: ...`` ->
``entailment``), which are not written in the toy scripts and would otherwise be [UNK]. [SEP] ends every
sequence (T5's ``</s>``); [PAD] starts the decoder.

Span corruption (Raffel et al. 2020): 15% of each block's tokens, in spans of 3 on average, are each replaced
by one sentinel in the input; the target lists the sentinels, each followed by the tokens it replaced. Span
placement follows T5's ``random_spans_noise_mask``: the noise and non-noise token counts are each split into as
many random positive segments as there are spans, and interleaved, non-noise first. Training blocks are
corrupted afresh each step from torch's global RNG (which the training loop seeds and a resume restores);
evaluation blocks once, with a generator seeded by the preparation seed and the block's ids, as the MLM
evaluation masking is.

Sentence pairs, as for the tiny BERT (:mod:`subnets.toy.pretrain`, whose pair generation is reused): a
sentence ``a`` of an MLM document and ``b`` an edited copy of it (or of another sentence), read whole by the
encoder as ``[CLS] a [SEP] b [SEP]``, as NLI reads its pairs. A *match* head on the encoder's output answers for
each token of ``b`` whether it occurs in ``a`` (span corruption of single blocks never needs a token to look for
its copy elsewhere, and the tiny mT5 pre-trained on documents alone stayed at chance on toy NLI). The run starts
with ``pair_steps`` steps on pairs alone, scored by the match alone; then it trains on documents with
``pair_share`` of the rows pairs, whose target (``pair_summary``) is how many tokens of ``b`` a lacks (0, 1, 2, 3 or
more, as sentinels), so that the decoder learns to read the match out as NLI's answer will be read. No NLI file is
read. The match head is a pre-training device only: the saved checkpoint is a plain ``MT5ForConditionalGeneration``.

What it took (BENCHMARKS.md, "Sentence pairs for the toy mT5"): pairs read whole (sentinels in ``b`` alone let
the match head find the second segment by them, which whole pairs never offer), no decoder target while the match
is learned (a decoder loss held it back), no dropout, and the summary target only once the match is learned.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from subnets.tasks.mlm import MLMTask, block_seed
from subnets.tasks.nli import NLI_LABELS
from subnets.toy.pretrain import (
    DEFAULT_PRETRAINING,
    _training_rows,
    match_targets,
    pairs_then_documents,
    pretraining_metrics,
    save_toy_model,
    second_segment,
    toy_config_from_dict,
)
from subnets.training import TrainingConfig

if TYPE_CHECKING:
    import datasets
    import torch
    from transformers import PreTrainedTokenizerBase

N_SENTINELS = 16
SUMMARY_COUNTS = 4  # a pair's summary target: 0, 1, 2, 3 or more tokens of b absent from a
SENTINELS = tuple(f"<extra_id_{i}>" for i in range(N_SENTINELS))
PROMPT_WORDS = ("xnli", "premise", "hypothesis", ":") + NLI_LABELS


@dataclass(frozen=True)
class ToyT5Config:
    """The tiny mT5's shape and its pre-training run: ``pair_steps`` steps on sentence pairs alone, then
    ``training.max_steps`` on document blocks and sentence pairs, the pairs ``pair_share`` of those rows."""

    d_model: int = 128
    num_layers: int = 4  # encoder blocks
    num_decoder_layers: int = 4
    num_heads: int = 4
    d_ff: int = 512
    max_length: int = 64  # block length before corruption, [CLS] and [SEP] included
    noise_density: float = 0.15
    mean_span_length: float = 3.0
    # No dropout (saved in the checkpoint's config, so fine-tuning has none either): with mT5's 0.1 the match
    # head stayed near the majority answer and NLI at chance (BENCHMARKS.md, "Sentence pairs for the toy mT5").
    dropout_rate: float = 0.0
    pair_share: float = 0.2
    pair_steps: int = 800
    pair_summary: bool = True  # in the document run, pair rows' target counts the tokens of b that a lacks
    training: TrainingConfig = field(default_factory=lambda: DEFAULT_PRETRAINING)

    def __post_init__(self):
        if not 0.0 <= self.pair_share < 1.0:
            raise ValueError(f"pair_share must be in [0, 1), got {self.pair_share}")
        if self.pair_steps < 0:
            raise ValueError(f"pair_steps must be at least 0, got {self.pair_steps}")
        if not 0.0 < self.noise_density < 0.5:
            raise ValueError(f"noise_density must be in (0, 0.5), got {self.noise_density}")
        if not 0.0 <= self.dropout_rate < 1.0:
            raise ValueError(f"dropout_rate must be in [0, 1), got {self.dropout_rate}")
        if self.mean_span_length < 1:
            raise ValueError(f"mean_span_length must be at least 1, got {self.mean_span_length}")
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model {self.d_model} is not a multiple of num_heads {self.num_heads}")

    @classmethod
    def from_dict(cls, values: dict) -> "ToyT5Config":
        return toy_config_from_dict(cls, values, "toy T5")


def t5_tokenizer(tokenizer_dir: str | os.PathLike) -> PreTrainedTokenizerBase:
    """The toy WordPiece tokenizer extended for an encoder-decoder: sentinels, prompt and label words, [SEP] as
    end of sequence, no token type ids."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    tokenizer.add_tokens(list(PROMPT_WORDS))
    tokenizer.add_special_tokens({"eos_token": "[SEP]", "additional_special_tokens": list(SENTINELS)})
    tokenizer.model_input_names = ["input_ids", "attention_mask"]
    return tokenizer


def _composition(total: int, parts: int, generator: torch.Generator | None) -> list[int]:
    """``total`` split into ``parts`` positive integers at random cut points."""
    import torch

    cuts = sorted((torch.randperm(total - 1, generator=generator)[: parts - 1] + 1).tolist())
    bounds = [0, *cuts, total]
    return [b - a for a, b in pairwise(bounds)]


def corrupt_spans(
    ids: list[int],
    *,
    noise_density: float,
    mean_span_length: float,
    sentinel_ids: list[int],
    eos_id: int,
    generator: torch.Generator | None = None,
) -> tuple[list[int], list[int]]:
    """(input ids, target ids) of one block ``[CLS] tokens [SEP]``: T5's span corruption of the inner tokens."""
    head, body = ids[:1], ids[1:-1]
    length = len(body)
    noise = min(max(1, round(length * noise_density)), length - 1)
    spans = max(1, min(round(noise / mean_span_length), len(sentinel_ids), length - noise))
    noise_lengths = _composition(noise, spans, generator)
    kept_lengths = _composition(length - noise, spans, generator)
    inputs, targets, position = list(head), [], 0
    for sentinel, kept, dropped in zip(sentinel_ids, kept_lengths, noise_lengths):
        inputs += body[position : position + kept] + [sentinel]
        position += kept
        targets += [sentinel] + body[position : position + dropped]
        position += dropped
    return inputs + [eos_id], targets + [eos_id]


def whole_pair(
    ids: list[int], *, separator_id: int, match_ignored: list[int], summary: tuple[list[int], int] | None = None
) -> tuple[list[int], list[int], list[float]]:
    """(input ids, target ids, match targets) of one pair row ``[CLS] a [SEP] b [SEP]`` (``b`` after the first
    ``separator_id``): read whole, as NLI reads its sentence pairs. The match targets are those of the other toy
    models (:func:`subnets.toy.pretrain.match_targets`): 1.0 for a token of ``b`` whose id occurs in ``a``, else
    0.0; -100 for every other position and for ``match_ignored`` ids. Not
    span-corrupted: sentinels in ``b`` alone mark the second segment, and the match head learned to lean on them
    (89% on corrupted held-out pairs, 64% on whole ones), which NLI's whole pairs never offer.

    The target is empty (one ignored position) unless ``summary`` = (count ids, end-of-sequence id) is given:
    then it is the count id of how many tokens of ``b`` a lacks (the last one for that many or more). The pair
    phase runs without it: a decoder loss from the start held the encoder's match back (66% after 500 steps
    against 79% after 400 without); the document run, once the match is learned, with it."""
    import torch

    row = torch.tensor([ids])
    matches = match_targets(row, second_segment(row, None, separator_id), match_ignored)[0]
    if summary is None:
        return list(ids), [-100], matches.tolist()
    count_ids, eos_id = summary  # the target: how many tokens of b a lacks, 0 .. len(count_ids) - 1 or more
    new = int((matches == 0).sum())
    return list(ids), [count_ids[min(new, len(count_ids) - 1)], eos_id], matches.tolist()


class SpanCorruptionCollator:
    """Corrupts each training block afresh (torch's global RNG), then pads inputs and targets. With ``match``,
    pair rows are read whole (see :func:`whole_pair`), and the batch carries
    ``match_labels`` (-100 wherever nothing is scored, e.g. every token of a single block)."""

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        noise_density: float,
        mean_span_length: float,
        match: bool = False,
        summary: bool = False,
    ):
        from transformers import DataCollatorForSeq2Seq

        self.pad = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100)
        self.options = {
            "noise_density": noise_density,
            "mean_span_length": mean_span_length,
            "sentinel_ids": tokenizer.convert_tokens_to_ids(list(SENTINELS)),
            "eos_id": tokenizer.eos_token_id,
        }
        self.match = match
        self.sep_id = tokenizer.sep_token_id
        self.match_ignored = list(tokenizer.all_special_ids)
        # With ``summary``, a pair's target counts the tokens of b that a lacks (0, 1, 2, 3 or more), each count
        # one of the last sentinels (span corruption uses the first ones).
        counts = tokenizer.convert_tokens_to_ids(list(SENTINELS[: -1 - SUMMARY_COUNTS : -1]))
        self.summary = (counts, tokenizer.eos_token_id) if summary else None

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        import torch

        corrupted, matches = [], []
        for row in rows:
            ids = list(row["input_ids"])
            if self.match and self.sep_id in ids[:-1]:  # a pair row: a separator before its last token
                inputs, targets, match = whole_pair(ids, separator_id=self.sep_id, match_ignored=self.match_ignored,
                                                    summary=self.summary)  # fmt: skip
            else:
                inputs, targets = corrupt_spans(ids, **self.options)
                match = [-100.0] * len(inputs)
            corrupted.append({"input_ids": inputs, "attention_mask": [1] * len(inputs), "labels": targets})
            matches.append(match)
        batch = self.pad(corrupted)
        if self.match:
            width = batch["input_ids"].shape[1]
            batch["match_labels"] = torch.tensor([m + [-100.0] * (width - len(m)) for m in matches])
        return batch


@dataclass(frozen=True)
class SpanCorruptionTask(MLMTask):
    """T5's pre-training objective on the MLM blocks, scored by perplexity over the target tokens."""

    noise_density: float = 0.15
    mean_span_length: float = 3.0
    min_tail_fraction: float = 0.25
    match: bool = False  # training batches carry match labels for pair rows (see SpanCorruptionCollator)
    summary: bool = False  # pair rows' target: how many tokens of b a lacks (see whole_pair)

    name: ClassVar[str] = "span_corruption"

    def model_class(self) -> type:
        from transformers import AutoModelForSeq2SeqLM

        return AutoModelForSeq2SeqLM

    def tokenize(
        self, dataset: datasets.Dataset, tokenizer: PreTrainedTokenizerBase, *, max_length: int, split: str, seed: int
    ) -> datasets.Dataset:
        import datasets
        import torch

        blocks = super().tokenize(dataset, tokenizer, max_length=max_length, split="train", seed=seed)
        if split == "train":
            return blocks
        options = SpanCorruptionCollator(tokenizer, self.noise_density, self.mean_span_length).options

        def corrupt(row: dict) -> dict:
            generator = torch.Generator().manual_seed(block_seed(seed, row["input_ids"]))
            inputs, targets = corrupt_spans(list(row["input_ids"]), generator=generator, **options)
            return {"input_ids": inputs, "attention_mask": [1] * len(inputs), "labels": targets}

        features = datasets.Features(
            {
                "input_ids": datasets.List(datasets.Value("int32")),
                "attention_mask": datasets.List(datasets.Value("int8")),
                "labels": datasets.List(datasets.Value("int64")),
            }
        )
        return blocks.map(corrupt, features=features, desc=f"corrupt spans/{split}")

    def train_collator(self, tokenizer: PreTrainedTokenizerBase):
        return SpanCorruptionCollator(tokenizer, self.noise_density, self.mean_span_length, self.match, self.summary)

    def eval_collator(self, tokenizer: PreTrainedTokenizerBase):
        from transformers import DataCollatorForSeq2Seq

        return DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100)


def _pair_aware_t5(model_config):
    """An ``MT5ForConditionalGeneration`` with a match head on the encoder's output, whose loss adds the match
    objective where a batch has ``match_labels``. Made here so that importing this module does not import
    torch. Its other weights are drawn first, as a plain model's are."""
    import torch
    from transformers import MT5ForConditionalGeneration

    class PairAwareT5(MT5ForConditionalGeneration):
        def __init__(self, config):
            super().__init__(config)
            self.match_head = torch.nn.Linear(config.d_model, 1)

        def match_logits(self, encoded: torch.Tensor) -> torch.Tensor:
            return self.match_head(encoded).squeeze(-1)

        def forward(self, input_ids=None, attention_mask=None, labels=None, match_labels=None, **kwargs):
            outputs = super().forward(input_ids=input_ids, attention_mask=attention_mask, labels=labels, **kwargs)
            if labels is not None and not (labels != -100).any():  # pair rows alone: no target to decode
                outputs.loss = outputs.logits.sum() * 0.0
            if match_labels is not None:
                scored = match_labels != -100
                if scored.any():  # a batch of document blocks alone has nothing to match
                    logits = self.match_logits(outputs.encoder_last_hidden_state)
                    match_loss = torch.nn.functional.binary_cross_entropy_with_logits
                    outputs.loss = outputs.loss + match_loss(logits[scored], match_labels[scored])
            return outputs

    return PairAwareT5(model_config)


def t5_match_accuracy(model, rows: datasets.Dataset, tokenizer, batch_size: int) -> tuple[float, float]:
    """Accuracy of ``model``'s match head on the pair ``rows`` (uncorrupted, as NLI sentences are read), and
    that of always answering the majority."""
    import torch
    from transformers import DataCollatorWithPadding

    collate = DataCollatorWithPadding(tokenizer)
    correct = total = found = 0
    model.eval()
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            chunk = rows.select(range(start, min(start + batch_size, len(rows)))).to_list()
            batch = collate([{"input_ids": r["input_ids"], "attention_mask": r["attention_mask"]} for r in chunk])
            segments = second_segment(batch["input_ids"], None, tokenizer.sep_token_id)
            targets = match_targets(batch["input_ids"], segments, tokenizer.all_special_ids)
            scored = targets != -100
            encoded = model.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])[0]
            predicted = (model.match_logits(encoded) > 0).float()
            correct += int((predicted[scored] == targets[scored]).sum())
            total += int(scored.sum())
            found += int(targets[scored].sum())
    return correct / total, max(found, total - found) / total


def pretrain_toy_t5(
    world_dir: str | os.PathLike,
    tokenizer_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    config: ToyT5Config = ToyT5Config(),
    *,
    progress: bool = True,
) -> dict:
    """Pre-train the tiny mT5 on the world in ``world_dir`` (``pair_steps`` on sentence pairs, then documents
    with ``pair_share`` of pairs) and save it with its tokenizer to ``out_dir``; return its metrics (perplexity
    over target tokens, an add-one unigram model's on the same targets, the match head's accuracy)."""
    import torch
    from transformers import MT5Config, MT5ForConditionalGeneration

    world_dir = Path(world_dir)
    languages = list(json.loads((world_dir / "world.json").read_text())["languages"])
    tokenizer = t5_tokenizer(tokenizer_dir)
    task = SpanCorruptionTask(noise_density=config.noise_density, mean_span_length=config.mean_span_length, match=True)
    seed = config.training.seed
    rows = _training_rows(world_dir, languages, tokenizer, config, task)  # BERT's rows, corrupted spans
    model_config = MT5Config(
        vocab_size=len(tokenizer),
        d_model=config.d_model,
        d_kv=config.d_model // config.num_heads,
        d_ff=config.d_ff,
        num_layers=config.num_layers,
        num_decoder_layers=config.num_decoder_layers,
        num_heads=config.num_heads,
        feed_forward_proj="gated-gelu",
        dropout_rate=config.dropout_rate,
        tie_word_embeddings=False,  # mT5's; transformers 5 ties a new model anyway (module docstring)
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = _pair_aware_t5(model_config)
    document_task = replace(task, summary=config.pair_summary)
    result = pairs_then_documents(model, task, tokenizer, rows, config, "toy mT5", progress, document_task)
    model.load_state_dict(result.peak_state)
    accuracy, majority = t5_match_accuracy(model, rows["validation_pairs"], tokenizer, config.training.eval_batch_size)

    # Saved as a plain MT5ForConditionalGeneration: the match head stays behind, no task uses it.
    checkpoint = MT5ForConditionalGeneration(model_config)
    checkpoint.load_state_dict(
        {name: value for name, value in result.peak_state.items() if not name.startswith("match_head.")}
    )

    metrics = pretraining_metrics(languages, config, checkpoint, rows, result, tokenizer,
                                  match_accuracy=accuracy, match_majority=majority)  # fmt: skip
    save_toy_model(out_dir, checkpoint, tokenizer, metrics)
    return metrics
