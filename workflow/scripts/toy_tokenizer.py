"""Train the toy world's WordPiece tokenizer on its MLM training text."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

from subnets.io import atomic_path
from subnets.toy.tokenizer import DEFAULT_VOCAB_SIZE, train_tokenizer, world_texts

sm = job.smk
vocab_size = sm.params.tokenizer.get("vocab_size", DEFAULT_VOCAB_SIZE)
with atomic_path(sm.output[0]) as tmp:
    train_tokenizer(world_texts(sm.input.world), tmp, vocab_size=vocab_size)
job.log(f"toy tokenizer: vocab_size {vocab_size}")
