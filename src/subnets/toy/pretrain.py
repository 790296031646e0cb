"""Pre-train a tiny BERT on the toy world's text: the demo's theta0.

Two kinds of training rows, built from the MLM training documents alone (no NLI data is read, so no NLI label
can leak into theta0):

* Document blocks: the documents of every language cut into blocks as the MLM task does, so the low-resource
  language is as under-represented as it is in the corpus.
* Sentence pairs ``[CLS] a [SEP] b [SEP]`` (token types 0 and 1): ``a`` a sentence of a document, ``b`` a copy
  of it with words dropped, replaced and inserted at random or, for a share of the pairs, such a copy of
  another sentence of the same language.

Every row is trained with MLM. Pair rows also train a *match* objective: for each visible token of ``b``, does
the same token occur among the visible tokens of ``a``? MLM on single documents hardly ever needs a token to
look for its copy elsewhere, and a tiny BERT pre-trained on documents alone stayed at chance on toy NLI: to
relate a hypothesis to its premise it must first find which of its words the premise states. Learning that
takes a few hundred steps of pairs, so the run starts with ``pair_steps`` steps on pairs alone (which also
gets document MLM off its plateau sooner), then trains on documents with ``pair_share`` of pairs mixed in. The
match head is a pre-training device only, like ELECTRA's discriminator head: the saved checkpoint is the body
with its MLM head and pooler.

The model is trained with the project's own training loop (dense, no mask) and saved like mBERT: a
``BertForPreTraining`` checkpoint (body, pooler and MLM head) in safetensors with its tokenizer, so every task
model (masked LM, token or sequence classification) loads its body from it with ``from_pretrained``, and only
the new task head depends on a run's seed.
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
from typing import TYPE_CHECKING

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
    ``training.max_steps`` on document blocks and sentence pairs, the pairs ``pair_share`` of those rows."""

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


def _pair_rows(pairs: list[tuple[str, str]], tokenizer: "PreTrainedTokenizerBase", max_length: int):
    """Unmasked rows ``[CLS] a [SEP] b [SEP]`` with token types 0 and 1, in the storage schema of MLM rows."""
    import datasets

    from subnets.tasks.base import encoded_inputs, token_features

    features = token_features(tokenizer, None)
    if not pairs:
        return datasets.Dataset.from_dict({name: [] for name in features}, features=features)
    encoding = tokenizer([a for a, _ in pairs], [b for _, b in pairs], truncation=True, max_length=max_length)
    return datasets.Dataset.from_dict(encoded_inputs(encoding, tokenizer), features=features)


def match_targets(input_ids: "torch.Tensor", token_type_ids: "torch.Tensor", ignored_ids: list[int]):
    """Per token of the second segment: 1.0 if the same id occurs in the first segment of its row, else 0.0.
    Tokens of the first segment, and ``ignored_ids`` (special tokens: padding, [MASK]) anywhere, get -100."""
    import torch

    visible = ~torch.isin(input_ids, torch.tensor(ignored_ids, device=input_ids.device))
    first, second = visible & (token_type_ids == 0), visible & (token_type_ids == 1)
    same = input_ids[:, :, None] == input_ids[:, None, :]  # (row, token, token of the first segment)
    found = (same & first[:, None, :]).any(dim=-1)
    return torch.where(second, found.float(), torch.full(found.shape, -100.0, device=found.device))


def _pair_aware_bert(bert_config, ignored_ids: list[int]):
    """A ``BertForMaskedLM`` with a match head, whose loss adds the match objective on sentence-pair rows.

    The class is made here, not at module level, so that importing this module does not import torch (the
    workflow reads ``ToyModelConfig`` when it parses its rules).
    """
    import torch
    from transformers import BertForMaskedLM
    from transformers.modeling_outputs import MaskedLMOutput

    class PairAwareBert(BertForMaskedLM):
        def __init__(self, config):
            super().__init__(config)
            self.match_head = torch.nn.Linear(config.hidden_size, 1)

        def match_logits(self, hidden: torch.Tensor) -> torch.Tensor:
            return self.match_head(hidden).squeeze(-1)

        def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
            hidden = self.bert(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]
            logits = self.cls(hidden)
            if labels is None:
                return MaskedLMOutput(logits=logits)
            loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten())
            targets = match_targets(input_ids, token_type_ids, ignored_ids)
            scored = targets != -100
            if scored.any():  # document blocks have no second segment
                match_loss = torch.nn.functional.binary_cross_entropy_with_logits
                loss = loss + match_loss(self.match_logits(hidden)[scored], targets[scored])
            return MaskedLMOutput(loss=loss, logits=logits)

    return PairAwareBert(bert_config)


def match_accuracy(model, rows: "datasets.Dataset", tokenizer, ignored_ids: list[int], batch_size: int):
    """Accuracy of ``model``'s match head on the pair ``rows``, and that of always answering the majority."""
    import torch
    from transformers import DataCollatorWithPadding

    collate = DataCollatorWithPadding(tokenizer)
    correct = total = found = 0
    model.eval()
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            batch = collate(rows.select(range(start, min(start + batch_size, len(rows)))).to_list())
            batch = {name: tensor.to(model.device) for name, tensor in batch.items()}
            targets = match_targets(batch["input_ids"], batch["token_type_ids"], ignored_ids)
            scored = targets != -100
            predicted = (model.match_logits(model.bert(**batch)[0]) > 0).float()
            correct += int((predicted[scored] == targets[scored]).sum())
            total += int(scored.sum())
            found += int(targets[scored].sum())
    return correct / total, max(found, total - found) / total


def _training_rows(world_dir: Path, languages: list[str], tokenizer, config, task=None) -> dict:
    """Tokenised rows: ``blocks`` (the training documents), ``warmup`` (pairs for the ``pair_steps``),
    ``train`` (the blocks and ``pair_share`` of other pairs), ``validation`` (masked validation blocks) and
    ``validation_pairs`` (pairs from the validation documents). ``config`` is a :class:`ToyModelConfig` or
    anything with its ``max_length``, ``pair_steps``, ``pair_share`` and ``training``; ``task`` tokenises the
    documents (default MLM; the toy mT5 passes its span corruption)."""
    import datasets

    from subnets.tasks import get_task

    task = task or get_task("mlm")
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
    # Half the block length: a batch is padded to its longest row, and a batch of pairs alone then costs about
    # half as much (pairs average 27 tokens, the longest of 32 about 55). The pairs among the blocks are whole.
    rows["warmup"] = _pair_rows(pairs[:n_warmup], tokenizer, config.max_length // 2)
    rows["train"] = datasets.concatenate_datasets(
        [rows["blocks"], _pair_rows(pairs[n_warmup:], tokenizer, config.max_length)]
    )
    held_out = sentence_pairs([raw["validation"]["text"] for raw in documents], VALIDATION_PAIRS, seed)
    rows["validation_pairs"] = _pair_rows(held_out, tokenizer, config.max_length)
    return rows


def pairs_then_documents(model, task, tokenizer, rows: dict, config, name: str, progress: bool):
    """Train ``model`` in place: ``config.pair_steps`` steps on ``rows["warmup"]`` (if any), then the document
    run on ``rows["train"]``, which starts where the pair run ended; both evaluated on ``rows["validation"]``.
    Returns the document run's result."""
    from subnets.training import MaskedTrainer

    if config.pair_steps:
        on_pairs = replace(config.training, max_steps=config.pair_steps, eval_every=config.pair_steps)
        MaskedTrainer(
            model, task, tokenizer, rows["warmup"], rows["validation"], on_pairs,
            description=f"pre-train {name} on sentence pairs", progress=progress,
        ).train()  # fmt: skip
    return MaskedTrainer(
        model, task, tokenizer, rows["train"], rows["validation"], config.training,
        description=f"pre-train {name}", progress=progress,
    ).train()  # fmt: skip


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
    from transformers import AutoTokenizer, BertConfig, BertForPreTraining

    from subnets.tasks import get_task

    world_dir = Path(world_dir)
    manifest = json.loads((world_dir / "world.json").read_text())
    languages = list(manifest["languages"])
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    rows = _training_rows(world_dir, languages, tokenizer, config)
    seed = config.training.seed

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
    model = _pair_aware_bert(bert_config, tokenizer.all_special_ids)
    task = get_task("mlm")
    result = pairs_then_documents(model, task, tokenizer, rows, config, "toy BERT", progress)
    model.load_state_dict(result.peak_state)
    accuracy, majority = match_accuracy(
        model, rows["validation_pairs"], tokenizer, tokenizer.all_special_ids, config.training.eval_batch_size
    )

    # Saved as a BertForPreTraining checkpoint, as mBERT is: the pooler (untrained here, seeded) and the NSP
    # head come with it, so a sequence classifier's pooler is part of theta0's body, not of its seeded head.
    # The match head stays behind: no task uses it.
    torch.manual_seed(seed)
    checkpoint = BertForPreTraining(bert_config)
    body = {name: value for name, value in result.peak_state.items() if not name.startswith("match_head.")}
    missing, unexpected = checkpoint.load_state_dict(body, strict=False)
    not_carried = [k for k in missing if "pooler" not in k and "seq_relationship" not in k]
    if unexpected or not_carried:
        raise RuntimeError(f"pre-trained weights do not map onto BertForPreTraining: {unexpected + not_carried}")

    baseline = unigram_perplexity(rows["blocks"]["input_ids"], rows["validation"]["labels"], len(tokenizer))
    metrics = {
        "languages": languages,
        "model": asdict(config) | {"training": config.training.to_dict()},
        "parameters": sum(p.numel() for p in checkpoint.parameters()),
        "train_blocks": len(rows["blocks"]),
        "train_pairs": len(rows["train"]) - len(rows["blocks"]),
        "warmup_pairs": len(rows["warmup"]),
        "validation_blocks": len(rows["validation"]),
        "perplexity": result.peak_metric,
        "unigram_perplexity": baseline,
        "match_accuracy": accuracy,
        "match_majority": majority,
        **result.summary(),
    }
    save_toy_model(out_dir, checkpoint, tokenizer, metrics)
    return metrics


def save_toy_model(out_dir: str | os.PathLike, model, tokenizer, metrics: dict) -> None:
    """Write a pre-trained toy model as a hub model is laid out (safetensors, tokenizer) plus its
    ``pretraining.json``, atomically: complete under ``out_dir`` or not there at all."""
    from subnets.io import atomic_path

    with atomic_path(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "pretraining.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
