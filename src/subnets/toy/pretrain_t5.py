"""Pre-train a tiny mT5-style encoder-decoder on the toy world with T5's span corruption: theta0 of toy mT5
studies.

The model is an ``MT5ForConditionalGeneration`` (gated-GELU feed-forward, untied output layer, relative
attention), saved with its tokenizer like ``google/mt5-base``, so the pipeline loads it with the same Auto
classes. Its tokenizer is the toy world's WordPiece tokenizer plus what a T5 needs and the toy text lacks:
sentinel tokens for span corruption, and the words of the XNLI prompt and labels (``xnli premise: ...
hypothesis: ...`` -> ``entailment``), which are not written in the toy scripts and would otherwise be [UNK].
[SEP] ends every sequence (T5's ``</s>``); [PAD] starts the decoder.

Span corruption (Raffel et al. 2020): 15% of each block's tokens, in spans of 3 on average, are each replaced
by one sentinel in the input; the target lists the sentinels, each followed by the tokens it replaced. Span
placement follows T5's ``random_spans_noise_mask``: the noise and non-noise token counts are each split into as
many random positive segments as there are spans, and interleaved, non-noise first. Training blocks are
corrupted afresh each step from torch's global RNG (which the training loop seeds and a resume restores);
evaluation blocks once, with a generator seeded by the preparation seed and the block's ids, as the MLM
evaluation masking is.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from subnets.tasks.mlm import MLMTask, block_seed
from subnets.tasks.nli import NLI_LABELS
from subnets.toy.pretrain import (
    DEFAULT_PRETRAINING,
    _mixed_corpus,
    save_toy_model,
    toy_config_from_dict,
    unigram_perplexity,
)
from subnets.training import TrainingConfig

if TYPE_CHECKING:
    import datasets
    import torch
    from transformers import PreTrainedTokenizerBase

N_SENTINELS = 16
SENTINELS = tuple(f"<extra_id_{i}>" for i in range(N_SENTINELS))
PROMPT_WORDS = ("xnli", "premise", "hypothesis", ":") + NLI_LABELS


@dataclass(frozen=True)
class ToyT5Config:
    """The tiny mT5's shape and its pre-training run."""

    d_model: int = 128
    num_layers: int = 4  # encoder blocks
    num_decoder_layers: int = 4
    num_heads: int = 4
    d_ff: int = 512
    max_length: int = 64  # block length before corruption, [CLS] and [SEP] included
    noise_density: float = 0.15
    mean_span_length: float = 3.0
    training: TrainingConfig = field(default_factory=lambda: DEFAULT_PRETRAINING)

    def __post_init__(self):
        if not 0.0 < self.noise_density < 0.5:
            raise ValueError(f"noise_density must be in (0, 0.5), got {self.noise_density}")
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


class SpanCorruptionCollator:
    """Corrupts each training block afresh (torch's global RNG), then pads inputs and targets."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, noise_density: float, mean_span_length: float):
        from transformers import DataCollatorForSeq2Seq

        self.pad = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100)
        self.options = {
            "noise_density": noise_density,
            "mean_span_length": mean_span_length,
            "sentinel_ids": tokenizer.convert_tokens_to_ids(list(SENTINELS)),
            "eos_id": tokenizer.eos_token_id,
        }

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        corrupted = []
        for row in rows:
            inputs, targets = corrupt_spans(list(row["input_ids"]), **self.options)
            corrupted.append({"input_ids": inputs, "attention_mask": [1] * len(inputs), "labels": targets})
        return self.pad(corrupted)


@dataclass(frozen=True)
class SpanCorruptionTask(MLMTask):
    """T5's pre-training objective on the MLM blocks, scored by perplexity over the target tokens."""

    noise_density: float = 0.15
    mean_span_length: float = 3.0
    min_tail_fraction: float = 0.25

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
        return SpanCorruptionCollator(tokenizer, self.noise_density, self.mean_span_length)

    def eval_collator(self, tokenizer: PreTrainedTokenizerBase):
        from transformers import DataCollatorForSeq2Seq

        return DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100)


def pretrain_toy_t5(
    world_dir: str | os.PathLike,
    tokenizer_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    config: ToyT5Config = ToyT5Config(),
    *,
    progress: bool = True,
) -> dict:
    """Pre-train the tiny mT5 on the world in ``world_dir`` and save it with its tokenizer to ``out_dir``;
    return its metrics (perplexity over target tokens, and an add-one unigram model's on the same targets)."""
    import torch
    from transformers import MT5Config, MT5ForConditionalGeneration

    from subnets.training import MaskedTrainer

    world_dir = Path(world_dir)
    languages = list(json.loads((world_dir / "world.json").read_text())["languages"])
    tokenizer = t5_tokenizer(tokenizer_dir)
    task = SpanCorruptionTask(noise_density=config.noise_density, mean_span_length=config.mean_span_length)
    corpus = _mixed_corpus(world_dir, languages)
    seed = config.training.seed
    tokenized = {
        split: task.tokenize(corpus[split], tokenizer, max_length=config.max_length, split=split, seed=seed)
        for split in ("train", "validation")
    }
    model_config = MT5Config(
        vocab_size=len(tokenizer),
        d_model=config.d_model,
        d_kv=config.d_model // config.num_heads,
        d_ff=config.d_ff,
        num_layers=config.num_layers,
        num_decoder_layers=config.num_decoder_layers,
        num_heads=config.num_heads,
        feed_forward_proj="gated-gelu",
        tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = MT5ForConditionalGeneration(model_config)
    trainer = MaskedTrainer(
        model, task, tokenizer, tokenized["train"], tokenized["validation"], config.training,
        description="pre-train toy mT5", progress=progress,
    )  # fmt: skip
    result = trainer.train()
    model.load_state_dict(result.peak_state)

    baseline = unigram_perplexity(tokenized["train"]["input_ids"], tokenized["validation"]["labels"], len(tokenizer))
    metrics = {
        "languages": languages,
        "model": asdict(config) | {"training": config.training.to_dict()},
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_blocks": len(tokenized["train"]),
        "validation_blocks": len(tokenized["validation"]),
        "perplexity": result.peak_metric,
        "unigram_perplexity": baseline,
        **result.summary(),
    }
    save_toy_model(out_dir, model, tokenizer, metrics)
    return metrics
