"""Cheaper ways to a ticket (issue 17): one-shot, early-bird and Wanda masks, and the cost accounting, each checked
against a direct computation on the tiny BERT."""

from __future__ import annotations

import math

import pytest
import torch

from subnets import costs, masks
from subnets.methods import EarlyBird, early_bird_stop, hamming_share, method_mask, wanda_input_norms, wanda_mask
from subnets.training import TrainingConfig

CONFIG = TrainingConfig(learning_rate=1e-3, batch_size=16, eval_batch_size=32, max_steps=6, eval_every=3, seed=0)


def _mask(bits):
    return {"w": torch.tensor(bits, dtype=torch.bool)}


def test_early_bird_stops_when_consecutive_draws_differ_in_less_than_the_threshold():
    sequence = [_mask([1, 1, 1, 1, 0, 0, 0, 0, 0, 0]),
                _mask([0, 0, 1, 1, 1, 1, 0, 0, 0, 0]),  # 4 of 10 differ
                _mask([0, 0, 1, 1, 1, 0, 1, 0, 0, 0]),  # 2 of 10
                _mask([0, 0, 1, 1, 1, 0, 1, 0, 0, 0]),  # 0
                _mask([0, 0, 1, 1, 1, 0, 0, 1, 0, 0])]  # 2  # fmt: skip
    assert hamming_share(sequence[0], sequence[1]) == pytest.approx(0.4)
    assert early_bird_stop(sequence, threshold=0.25) == 2  # 0.2 < 0.25 at the third draw
    assert early_bird_stop(sequence, threshold=0.2) == 3  # strictly below: 0.2 does not count, 0.0 does
    assert early_bird_stop(sequence, threshold=0.25, patience=2) == 3
    assert early_bird_stop(sequence, threshold=0.25, patience=3) == 4
    assert early_bird_stop(sequence, threshold=0.1, patience=2) is None  # 0.2 after 0.0 resets the streak
    rule = EarlyBird(0.25)
    [rule.update(m) for m in sequence[:3]]
    assert rule.distances == pytest.approx([0.4, 0.2]) and rule.mask is sequence[2]
    with pytest.raises(ValueError):
        EarlyBird(0.0)


def test_wanda_norms_equal_a_direct_computation_with_forward_hooks(ner_data, tiny_bert_dir):
    from subnets.theta0 import build_task_model

    task, tokenizer, data = ner_data
    model = build_task_model(tiny_bert_dir, task, seed=0)
    names = sorted(masks.prunable_parameters(model, "bert"))
    norms, tokens, passes = wanda_input_norms(model, task, tokenizer, data["train"], names, n_examples=20, seed=4,
                                              batch_size=7)  # fmt: skip
    assert passes == 3

    # Directly: the same 20 examples one at a time (no padding at all), each linear layer's inputs kept by a hook.
    examples = data["train"].shuffle(seed=4).select(range(20))
    collate = task.eval_collator(tokenizer)
    modules = {n[: -len(".weight")]: None for n in names}
    seen = {name: [] for name in modules}
    handles = [m.register_forward_hook(lambda mod, inp, out, name=name: seen[name].append(inp[0].detach()))
               for name, m in model.named_modules() if name in modules]  # fmt: skip
    model.eval()
    n_tokens = 0
    with torch.no_grad():
        for i in range(20):
            row = {k: examples[i][k] for k in ("input_ids", "attention_mask", "token_type_ids", "labels")
                   if k in examples.column_names}  # fmt: skip
            batch = collate([row])
            n_tokens += int(batch["attention_mask"].sum())
            model(**{k: v for k, v in batch.items() if k != "labels"})
    for handle in handles:
        handle.remove()
    assert tokens == n_tokens
    for name in modules:
        rows = torch.cat([x.reshape(-1, x.shape[-1]) for x in seen[name]])
        expected = rows.double().pow(2).sum(0).sqrt().float()
        assert torch.allclose(norms[f"{name}.weight"], expected, rtol=1e-4, atol=1e-6), name

    weights = {n: p.detach() for n, p in model.named_parameters() if n in names}
    mask = wanda_mask(weights, norms, 0.5)
    score = torch.cat([(weights[n].abs() * norms[n][None, :]).flatten() for n in sorted(names)])
    kept = torch.cat([mask[n].flatten() for n in sorted(names)])
    assert int((~kept).sum()) == round(0.5 * score.numel()) and score[kept].min() >= score[~kept].max()
    rows = wanda_mask(weights, norms, 0.5, groups="row")
    for n in names:
        s, m = weights[n].abs() * norms[n][None, :], rows[n]
        assert (m.sum(1) == m.shape[1] - round(0.5 * m.shape[1])).all()
        assert all(s[r][m[r]].min() >= s[r][~m[r]].max() for r in range(m.shape[0]))


def test_oneshot_is_magnitude_pruning_of_round_zeros_peak_and_imp_costs_chain(ner_data, tiny_bert_dir, tmp_path):
    from subnets.imp import imp_round, run_imp_round
    from subnets.theta0 import build_task_model

    task, tokenizer, data = ner_data
    # Round 0 kept its peak weights here (the workflow keeps none): pruned at once to 40%, they are the oneshot mask.
    round0 = run_imp_round(tiny_bert_dir, task, tokenizer, data, CONFIG, None, prune_fraction=0.2, progress=False)
    mask, provenance = method_mask("oneshot", tiny_bert_dir, task, tokenizer, data, CONFIG, language="xx",
                                   sparsity=40, options={"prune_from": "best"})  # fmt: skip
    from subnets.imp import train_subnetwork

    _, result, info = train_subnetwork(tiny_bert_dir, task, tokenizer, data, CONFIG, None, progress=False)
    peak = masks.prunable_parameters(result.peak_state, "bert")
    expected = masks.magnitude_prune(peak, None, 0.4)
    assert all(torch.equal(mask[n], expected[n]) for n in expected)
    assert provenance.cost == round0.metrics["cost"] == result.cost  # the dense run it stands for, counted once

    # IMP: the ticket at 40% carries both rounds' costs; round 0's is that of the dense run.
    metrics0, ticket20, prov20 = imp_round(tiny_bert_dir, task, tokenizer, data, CONFIG, language="xx", sparsity=0,
                                           prune_percent=20, progress=False)  # fmt: skip
    path = tmp_path / "t20.safetensors"
    masks.save_mask(path, ticket20, prov20)
    metrics20, _, prov40 = imp_round(tiny_bert_dir, task, tokenizer, data, CONFIG, language="xx", sparsity=20,
                                     prune_percent=20, ticket_path=str(path), progress=False)  # fmt: skip
    assert prov20.cost_from_theta0 == prov20.cost == result.cost
    chained = costs.Cost.from_dict(prov20.cost) + costs.Cost.from_dict(metrics20["cost"])
    assert prov40.cost_from_theta0 == chained.to_dict()
    assert metrics20["cost_from_theta0"]["flops"] == pytest.approx(chained.flops)
    assert masks.load_mask(path)[1]["cost_from_theta0"] == prov20.cost_from_theta0


def test_the_trainer_counts_steps_tokens_and_flops_without_changing_results(ner_data, tiny_bert_dir):
    from subnets.theta0 import build_task_model
    from subnets.training import MaskedTrainer

    task, tokenizer, data = ner_data
    config = TrainingConfig(learning_rate=1e-3, batch_size=40, eval_batch_size=32, max_steps=5, eval_every=2, seed=1)
    model = build_task_model(tiny_bert_dir, task, seed=1)
    result = MaskedTrainer(model, task, tokenizer, data["train"], data["validation"], config, progress=False).train()
    cost = costs.Cost.from_dict(result.cost)
    # By hand: 96 examples in batches of 40 (3 per epoch, the last of 16): steps 1-3 are epoch 0, 4-5 epoch 1.
    from subnets.training import EpochBatches

    lengths = [len(ids) for ids in data["train"]["input_ids"]]
    batches, tokens = EpochBatches(96, 40, 1), 0
    for epoch, taken in ((0, 3), (1, 2)):
        batches.set_position(epoch, 0)
        tokens += sum(sum(lengths[i] for i in b) for b in list(batches)[:taken])
    eval_tokens = sum(len(ids) for ids in data["validation"]["input_ids"])
    n = costs.per_token_parameters(model)
    embeddings = sum(p.numel() for name, p in model.named_parameters() if "embeddings" in name and p.ndim == 2)
    assert n == sum(p.numel() for p in model.parameters()) - embeddings
    assert cost.optimizer_steps == cost.backward_passes == 5
    assert cost.train_tokens == tokens and cost.forward_tokens == 3 * eval_tokens  # evaluations at 2, 4, 5
    assert cost.forward_passes == 5 + 3 * math.ceil(32 / 32)
    assert cost.flops == pytest.approx(6 * n * tokens + 2 * n * 3 * eval_tokens)
    assert result.summary()["cost"] == result.cost

    # The same run with a step callback that never stops: the same curve, weights and cost.
    model = build_task_model(tiny_bert_dir, task, seed=1)
    calls = []
    again = MaskedTrainer(model, task, tokenizer, data["train"], data["validation"], config, progress=False,
                          step_callback=lambda step, m: calls.append(step) or False).train()  # fmt: skip
    assert calls == [1, 2, 3, 4, 5] and again.eval_curve == result.eval_curve and again.cost == result.cost
    assert all(torch.equal(again.final_state[k], result.final_state[k]) for k in result.final_state)


def test_early_bird_and_wanda_masks_and_their_costs(ner_data, tiny_bert_dir):
    task, tokenizer, data = ner_data
    config = TrainingConfig(learning_rate=1e-3, batch_size=16, eval_batch_size=32, max_steps=40, eval_every=100)
    mask, provenance = method_mask("early_bird", tiny_bert_dir, task, tokenizer, data, config, language="xx",
                                   sparsity=50, options={"interval": 2, "threshold": 0.5, "patience": 1})  # fmt: skip
    details = provenance.details
    assert details["settled"] and details["stopped_at_step"] == 4 and details["draw_steps"] == [2, 4]
    assert provenance.cost["optimizer_steps"] == 4 and masks.sparsity(mask) == pytest.approx(0.5, abs=1e-4)
    from subnets.theta0 import build_task_model, fingerprint

    assert provenance.theta0_fingerprint == fingerprint(build_task_model(tiny_bert_dir, task, seed=config.seed))
    mask, provenance = method_mask("wanda", tiny_bert_dir, task, tokenizer, data, config, language="xx",
                                   sparsity=50, options={"calibration_examples": 10})  # fmt: skip
    assert provenance.cost["optimizer_steps"] == 0 and provenance.cost["train_tokens"] == 0
    assert provenance.cost["forward_tokens"] == provenance.details["calibration_tokens"] > 0
    assert provenance.cost_from_theta0 == provenance.cost
