"""Unit tests of the IMP chain's bookkeeping (subnets.imp): which mask a round accepts, how much it prunes."""

from __future__ import annotations

import pytest
import torch

from subnets.imp import check_chain_mask, round_prune_fraction


def _mask(kept: int, total: int = 10) -> dict[str, torch.Tensor]:
    return {"encoder.layer.0.output.dense.weight": torch.arange(total) < kept}


def test_check_chain_mask_accepts_the_previous_round_and_names_what_differs():
    metadata = {"task": "ner", "language": "en", "seed": 1}
    check_chain_mask(_mask(8), metadata, task="ner", language="en", seed=1, sparsity_percent=20, path="m.st")
    with pytest.raises(ValueError, match="m.st: sparsity is 20%, but 30% was asked for"):
        check_chain_mask(_mask(8), metadata, task="ner", language="en", seed=1, sparsity_percent=30, path="m.st")
    with pytest.raises(ValueError, match="m.st: metadata language='en', expected 'de'"):
        check_chain_mask(_mask(8), metadata, task="ner", language="de", seed=1, sparsity_percent=20, path="m.st")
    with pytest.raises(ValueError, match="metadata seed=1, expected 0"):
        check_chain_mask(_mask(8), metadata, task="ner", language="en", seed=0, sparsity_percent=20, path="m.st")


def test_round_prune_fraction_is_p_of_the_original_count_or_what_is_left():
    assert round_prune_fraction(None, 10) == pytest.approx(0.1)
    assert round_prune_fraction(_mask(5), 10) == pytest.approx(0.1)
    assert round_prune_fraction(_mask(1, total=20), 10) == pytest.approx(0.05)
