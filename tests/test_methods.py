"""LT-SFT and FISH masks (appendix D): what they keep, checked against direct computations."""

from __future__ import annotations

import pytest
import torch

from subnets import masks
from subnets.methods import fish_mask, fisher_scores, keep_top_share, lt_sft_mask


def test_keep_top_share_keeps_exactly_the_largest_scores():
    scores = {"b": torch.tensor([[0.5, 3.0], [2.0, 0.1]]), "a": torch.tensor([4.0, 0.2, 1.0])}
    mask = keep_top_share(scores, 3 / 7)  # remove 3 of 7
    flat = torch.cat([scores["a"], scores["b"].flatten()])
    kept = torch.cat([mask["a"], mask["b"].flatten()])
    assert int(kept.sum()) == 4
    assert set(flat[kept].tolist()) == {4.0, 3.0, 2.0, 1.0}


def test_lt_sft_keeps_the_weights_that_moved_most():
    torch.manual_seed(0)
    theta0 = {"x": torch.randn(6, 5), "y": torch.randn(7)}
    finetuned = {name: w + torch.randn_like(w) * 0.1 for name, w in theta0.items()}
    mask = lt_sft_mask(theta0, finetuned, 0.6)
    moved = torch.cat([(finetuned[n] - theta0[n]).abs().flatten() for n in sorted(theta0)])
    kept = torch.cat([mask[n].flatten() for n in sorted(theta0)])
    total = moved.numel()
    assert int(kept.sum()) == total - round(0.6 * total)
    assert moved[kept].min() > moved[~kept].max()  # exactly the largest |w - w0|
    assert masks.sparsity(mask) == pytest.approx(round(0.6 * total) / total)
    with pytest.raises(ValueError, match="differ in parameter 'y'"):
        lt_sft_mask(theta0, {"x": finetuned["x"]}, 0.5)


def test_fish_scores_equal_a_direct_per_example_computation(tiny_bert_dir, ner_data):
    from torch.func import functional_call, grad, vmap
    from transformers import AutoTokenizer

    from subnets.tasks import get_task
    from subnets.theta0 import build_task_model

    task = get_task("ner")
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    model = build_task_model(tiny_bert_dir, task, seed=0)
    names = sorted(masks.prunable_parameters(model, "bert"))
    dataset = ner_data[2]["train"]
    scores = fisher_scores(model, task, tokenizer, dataset, names, n_examples=6, seed=3)

    # Independently: per-example gradients of the same 6 examples with torch.func, squared and summed.
    examples = dataset.shuffle(seed=3).select(range(6))
    examples = examples.select_columns([c for c in ("input_ids", "attention_mask", "token_type_ids", "labels")
                                        if c in examples.column_names])
    collate = task.train_collator(tokenizer)
    model.eval()
    params = {name: p.detach() for name, p in model.named_parameters()}
    expected = {name: torch.zeros_like(params[name]) for name in names}
    for i in range(6):
        batch = collate([examples[i]])

        def loss_of(p, batch=batch):
            return functional_call(model, p, args=(), kwargs=dict(batch)).loss

        grads = grad(loss_of)(params)
        for name in names:
            expected[name] += grads[name] ** 2
    for name in names:
        assert torch.allclose(scores[name], expected[name], rtol=1e-4, atol=1e-10), name
    assert all(p.grad is None for p in model.parameters())  # nothing left behind

    mask = fish_mask(scores, 0.5)
    flat = torch.cat([scores[n].flatten() for n in names])
    kept = torch.cat([mask[n].flatten() for n in names])
    assert flat[kept].min() >= flat[~kept].max()
    assert int((~kept).sum()) == round(0.5 * flat.numel())
