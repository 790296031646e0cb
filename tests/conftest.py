from __future__ import annotations

import random

import pytest
import torch

from tiny_models import save_tiny_bert

# The test models are tiny: a second thread buys little, and on a busy 2-core machine OpenMP's spinning
# threads can make every matrix product several times slower.
torch.set_num_threads(1)

# A small vocabulary shared by the unit tests: whole words plus a few sub-word pieces.
TEST_WORDS = (
    "the a of and not is was in on at to with by "
    "cat dog bird house city river tree car book song "
    "sees likes finds takes sings builds reads knows "
    "big small old new red green happy quick "
    "anna bob carla dmitri eve paris berlin rome lima oslo acme globex initech "
    "##s ##ed ##ing ##er ##a ##o ##i ##e ##n ##t ##r ##l"
).split()


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory):
    """A randomly initialised 2-layer BERT with its tokenizer, saved like a pre-trained model."""
    return save_tiny_bert(tmp_path_factory.mktemp("tiny_bert"), TEST_WORDS)


NAMES = {"anna": 1, "bob": 1, "acme": 3, "globex": 3, "paris": 5, "berlin": 5}
FILLER = "the a cat dog sees likes finds big small old new in on with".split()


def _ner_rows(n: int, seed: int) -> dict[str, list]:
    rng = random.Random(seed)
    tokens, tags = [], []
    for _ in range(n):
        words, labels = [], []
        for _ in range(rng.randint(4, 9)):
            if rng.random() < 0.3:
                name = rng.choice(sorted(NAMES))
                words.append(name)
                labels.append(NAMES[name])
            else:
                words.append(rng.choice(FILLER))
                labels.append(0)
        tokens.append(words)
        tags.append(labels)
    return {"tokens": tokens, "ner_tags": tags}


@pytest.fixture(scope="session")
def ner_data(tiny_bert_dir):
    """(task, tokenizer, tokenised DatasetDict) of a small synthetic NER set for the tiny BERT."""
    import datasets
    from transformers import AutoTokenizer

    from subnets.tasks import get_task

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    task = get_task("ner")
    splits = {"train": _ner_rows(96, 0), "validation": _ner_rows(32, 1)}
    data = datasets.DatasetDict(
        {
            split: task.tokenize(datasets.Dataset.from_dict(rows), tokenizer, max_length=32, split=split, seed=0)
            for split, rows in splits.items()
        }
    )
    return task, tokenizer, data
