from __future__ import annotations

import pytest
import torch

from subnets.testing import save_tiny_bert

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
