"""Train the toy world's WordPiece tokenizer on its MLM training text."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 (snakemake is injected)

from subnets.io import atomic_path
from subnets.toy.tokenizer import DEFAULT_VOCAB_SIZE, train_tokenizer, world_texts

sm = snakemake  # noqa: F821
vocab_size = sm.params.tokenizer.get("vocab_size", DEFAULT_VOCAB_SIZE)
with atomic_path(sm.output[0]) as tmp:
    train_tokenizer(world_texts(sm.input.world), tmp, vocab_size=vocab_size)
print(f"toy tokenizer: vocab_size {vocab_size}", file=sys.stderr)
