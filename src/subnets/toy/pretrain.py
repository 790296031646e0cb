"""Pre-train a tiny BERT with MLM on the toy world's mixed corpus: the demo's theta0.

The model is trained with the project's own training loop (dense, no mask) on the MLM documents of every
language together, so the low-resource language is as under-represented as it is in the corpus. It is saved
like mBERT: a ``BertForPreTraining`` checkpoint (body, pooler and MLM head) in safetensors with its tokenizer,
so every task model (masked LM, token or sequence classification) loads its body from it with
``from_pretrained``, and only the new task head depends on a run's seed.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from subnets.training import TrainingConfig

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


@dataclass(frozen=True)
class ToyModelConfig:
    """The tiny BERT's shape and its pre-training run."""

    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 512
    max_length: int = 64  # MLM block length, [CLS] and [SEP] included
    training: TrainingConfig = field(default_factory=lambda: DEFAULT_PRETRAINING)

    @classmethod
    def from_dict(cls, values: dict) -> "ToyModelConfig":
        values = dict(values)
        training = TrainingConfig.from_dict({**DEFAULT_PRETRAINING.to_dict(), **values.pop("training", {})})
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown toy model key(s) {unknown}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(training=training, **values)


def _mixed_corpus(world_dir: Path, languages: list[str]):
    """The MLM documents of every language, train and validation concatenated across languages."""
    import datasets

    from subnets.data import load_raw

    per_language = [load_raw("mlm", world_dir / "mlm" / lang, lang) for lang in languages]
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


def pretrain_toy_bert(
    world_dir: str | os.PathLike,
    tokenizer_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    config: ToyModelConfig = ToyModelConfig(),
    *,
    progress: bool = True,
) -> dict:
    """Pre-train the tiny BERT on the world in ``world_dir`` and save it to ``out_dir``; return its metrics."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, BertForPreTraining

    from subnets.io import atomic_path
    from subnets.tasks import get_task
    from subnets.training import MaskedTrainer

    world_dir = Path(world_dir)
    manifest = json.loads((world_dir / "world.json").read_text())
    languages = list(manifest["languages"])
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    task = get_task("mlm")
    corpus = _mixed_corpus(world_dir, languages)
    seed = config.training.seed
    tokenized = {
        split: task.tokenize(corpus[split], tokenizer, max_length=config.max_length, split=split, seed=seed)
        for split in ("train", "validation")
    }

    bert_config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        intermediate_size=config.intermediate_size,
        max_position_embeddings=max(128, config.max_length),
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = BertForMaskedLM(bert_config)
    trainer = MaskedTrainer(
        model, task, tokenizer, tokenized["train"], tokenized["validation"], config.training,
        description="pre-train toy BERT", progress=progress,
    )  # fmt: skip
    result = trainer.train()

    # Saved as a BertForPreTraining checkpoint, as mBERT is: the pooler (untrained here, seeded) and the NSP
    # head come with it, so a sequence classifier's pooler is part of theta0's body, not of its seeded head.
    torch.manual_seed(seed)
    checkpoint = BertForPreTraining(bert_config)
    missing, unexpected = checkpoint.load_state_dict(result.peak_state, strict=False)
    not_carried = [k for k in missing if "pooler" not in k and "seq_relationship" not in k]
    if unexpected or not_carried:
        raise RuntimeError(f"pre-trained weights do not map onto BertForPreTraining: {unexpected + not_carried}")

    baseline = unigram_perplexity(tokenized["train"]["input_ids"], tokenized["validation"]["labels"], len(tokenizer))
    metrics = {
        "languages": languages,
        "model": asdict(config) | {"training": config.training.to_dict()},
        "parameters": sum(p.numel() for p in checkpoint.parameters()),
        "train_blocks": len(tokenized["train"]),
        "validation_blocks": len(tokenized["validation"]),
        "perplexity": result.peak_metric,
        "unigram_perplexity": baseline,
        **result.summary(),
    }
    with atomic_path(out_dir) as tmp:
        checkpoint.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "pretraining.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics
