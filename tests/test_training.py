"""theta0, the masked training loop and one IMP round, on a tiny random BERT (CPU, no downloads)."""

from __future__ import annotations

import pytest
import torch

from subnets import masks
from subnets.imp import run_imp_round, train_subnetwork
from subnets.tasks import get_task
from subnets.theta0 import build_task_model, fingerprint, resolve_pretrained
from subnets.training import MaskedTrainer, NonFiniteLossError, TrainingConfig


def _config(**overrides) -> TrainingConfig:
    values = dict(learning_rate=1e-3, batch_size=16, eval_batch_size=32, max_steps=8, eval_every=4, seed=0)
    values.update(overrides)
    return TrainingConfig(**values)


def test_theta0_is_a_function_of_the_seed(tiny_bert_dir):
    task = get_task("ner")
    a, b, c = (build_task_model(tiny_bert_dir, task, seed=s) for s in (3, 3, 4))
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(c)
    for name, tensor in a.state_dict().items():
        assert torch.equal(tensor, b.state_dict()[name]), name
        if not name.startswith("classifier."):  # the pre-trained body does not depend on the seed
            assert torch.equal(tensor, c.state_dict()[name]), name
    assert not torch.equal(a.classifier.weight, c.classifier.weight)  # the new head does


def test_missing_model_directory_is_named():
    with pytest.raises(FileNotFoundError, match="no/such/model"):
        resolve_pretrained("./no/such/model")


def test_imp_rounds_remove_exactly_p_of_the_original_count(tiny_bert_dir, ner_data):
    task, tokenizer, data = ner_data
    first = run_imp_round(str(tiny_bert_dir), task, tokenizer, data, _config(), None, progress=False)
    total = first.metrics["prunable_count"]
    step = round(0.1 * total)
    assert masks.kept_count(first.next_mask) == total - step
    assert first.metrics["sparsity"] == 0.0
    second = run_imp_round(str(tiny_bert_dir), task, tokenizer, data, _config(), first.next_mask, progress=False)
    assert masks.kept_count(second.next_mask) == total - 2 * step
    assert second.metrics["kept_count"] == total - step
    # A weight pruned once stays pruned.
    for name, kept in second.next_mask.items():
        assert not (kept & ~first.next_mask[name]).any(), name
    assert len(second.metrics["eval_curve"]) == 2
    assert second.metrics["peak_metric"] == max(point["metric"] for point in second.metrics["eval_curve"])


def test_pruned_weights_stay_zero_and_optimizer_moments_stay_zero(tiny_bert_dir, ner_data):
    task, tokenizer, data = ner_data
    model = build_task_model(tiny_bert_dir, task, seed=0)
    prunable = masks.prunable_parameters(model, "bert")
    mask = masks.random_mask({n: p.shape for n, p in prunable.items()}, 0.5, seed=1)
    trainer = MaskedTrainer(model, task, tokenizer, data["train"], data["validation"], _config(), mask, progress=False)
    result = trainer.train()
    params = dict(trainer.model.named_parameters())
    for name, kept in mask.items():
        for state in (result.final_state, result.peak_state):
            assert (state[name][~kept] == 0).all(), name
        moments = trainer.optimizer.state[params[name]]
        assert (moments["exp_avg"][~kept] == 0).all(), name
        assert (moments["exp_avg_sq"][~kept] == 0).all(), name
    initial = build_task_model(tiny_bert_dir, task, seed=0).state_dict()
    changed = [n for n in mask if not torch.equal(result.final_state[n][mask[n]], initial[n][mask[n]])]
    assert changed, "kept weights should have been trained"


def test_same_seed_same_mask_other_seed_other_mask(tiny_bert_dir, ner_data):
    task, tokenizer, data = ner_data
    runs = [
        run_imp_round(str(tiny_bert_dir), task, tokenizer, data, _config(seed=s), None, progress=False)
        for s in (0, 0, 1)
    ]
    same = all(torch.equal(runs[0].next_mask[n], runs[1].next_mask[n]) for n in runs[0].next_mask)
    other = all(torch.equal(runs[0].next_mask[n], runs[2].next_mask[n]) for n in runs[0].next_mask)
    assert same
    assert not other
    assert runs[0].metrics["eval_curve"] == runs[1].metrics["eval_curve"]


def test_prune_from_last_uses_the_final_weights(tiny_bert_dir, ner_data):
    task, tokenizer, data = ner_data
    result = run_imp_round(
        str(tiny_bert_dir), task, tokenizer, data, _config(), None, prune_from="last", progress=False
    )
    assert result.metrics["prune_from"] == "last"
    with pytest.raises(ValueError, match="prune_from"):
        run_imp_round(str(tiny_bert_dir), task, tokenizer, data, _config(), None, prune_from="middle")


def test_non_finite_loss_stops_with_a_clear_error(tiny_bert_dir, ner_data):
    task, tokenizer, data = ner_data
    model = build_task_model(tiny_bert_dir, task, seed=0)
    with torch.no_grad():
        model.bert.embeddings.word_embeddings.weight.fill_(float("nan"))
    trainer = MaskedTrainer(model, task, tokenizer, data["train"], data["validation"], _config(), progress=False)
    with pytest.raises(NonFiniteLossError, match="training loss is nan at step 1"):
        trainer.train()


def test_a_mask_of_another_model_is_refused(tiny_bert_dir, ner_data):
    task, tokenizer, data = ner_data
    model = build_task_model(tiny_bert_dir, task, seed=0)
    shapes = {n: p.shape for n, p in masks.prunable_parameters(model, "bert").items()}
    first = sorted(shapes)[0]
    shapes[first] = torch.Size([shapes[first][0] + 1, shapes[first][1]])
    wrong = masks.random_mask(shapes, 0.5, seed=0)
    with pytest.raises(ValueError, match=first.replace(".", r"\.")):
        train_subnetwork(str(tiny_bert_dir), task, tokenizer, data, _config(), wrong, progress=False)


def test_training_config_rejects_bad_values():
    with pytest.raises(ValueError, match="learning_rate"):
        TrainingConfig(learning_rate=0)
    with pytest.raises(ValueError, match="lr"):
        TrainingConfig.from_dict({"lr": 1e-3})


def test_a_mask_found_on_another_theta0_is_refused_before_training(tiny_bert_dir, ner_data):
    task, tokenizer, data = ner_data
    model = build_task_model(tiny_bert_dir, task, seed=0)
    mask = masks.random_mask(masks.prunable_shapes(model, "bert"), 0.5, seed=0)
    with pytest.raises(ValueError, match="round.safetensors was found on theta0 0000000000000000"):
        run_imp_round(
            str(tiny_bert_dir), task, tokenizer, data, _config(), mask,
            mask_metadata={"theta0_fingerprint": "0" * 16}, mask_path="round.safetensors", progress=False,
        )  # fmt: skip


def test_head_seed_gives_every_seed_one_theta0_and_keeps_their_data_orders(tiny_bert_dir, ner_data):
    """With head_seed, runs of different seeds start from one theta0 (one head) but still differ by their
    batches and dropout: other curves and masks, the same fingerprint; the random control is drawn on it too."""
    from subnets.methods import random_subnetwork

    task, tokenizer, data = ner_data
    assert _config(seed=3).theta0_seed == 3 and _config(seed=3, head_seed=0).theta0_seed == 0
    runs = [run_imp_round(str(tiny_bert_dir), task, tokenizer, data, _config(seed=s, head_seed=7), None,
                          progress=False) for s in (0, 1)]  # fmt: skip
    assert runs[0].metrics["theta0_fingerprint"] == runs[1].metrics["theta0_fingerprint"]
    assert runs[0].metrics["eval_curve"] != runs[1].metrics["eval_curve"]
    assert not all(torch.equal(runs[0].next_mask[n], runs[1].next_mask[n]) for n in runs[0].next_mask)
    paper = run_imp_round(str(tiny_bert_dir), task, tokenizer, data, _config(seed=0), None, progress=False)
    assert paper.metrics["theta0_fingerprint"] != runs[0].metrics["theta0_fingerprint"]
    _, provenance = random_subnetwork(str(tiny_bert_dir), task, seed=1, theta0_seed=7, sparsity=40)
    assert provenance.theta0_fingerprint == runs[0].metrics["theta0_fingerprint"]
    with pytest.raises(ValueError, match="head_seed"):
        TrainingConfig(head_seed=-1)
