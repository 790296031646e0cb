from __future__ import annotations

import math
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file
from torch.nn.utils import prune

from subnets import masks as M

BERT_MATRICES = [
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
]


def bert_names(n_layers: int, prefix: str = "bert.") -> list[str]:
    return [f"{prefix}encoder.layer.{i}.{m}.weight" for i in range(n_layers) for m in BERT_MATRICES]


@pytest.fixture(scope="module")
def transformers():
    return pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def bert_config(transformers):
    return transformers.BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32
    )


def t5_model(transformers, **kwargs):
    config = transformers.T5Config(
        vocab_size=50, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_decoder_layers=2, num_heads=2, **kwargs
    )
    return transformers.T5ForConditionalGeneration(config)


# ------------------------------------------------------------------------------------------- prunable set


def test_prunable_bert_heads_without_pooler(transformers, bert_config):
    for cls in (transformers.BertForMaskedLM, transformers.BertForTokenClassification):
        model = cls(bert_config)
        assert M.infer_family(model) == "bert"
        assert list(M.prunable_parameters(model)) == bert_names(2)


def test_prunable_bert_with_pooler_and_state_dict(transformers, bert_config):
    model = transformers.BertForSequenceClassification(bert_config)
    expected = bert_names(2) + ["bert.pooler.dense.weight"]
    params = M.prunable_parameters(model, "bert")
    assert list(params) == expected
    assert all(isinstance(p, torch.nn.Parameter) for p in params.values())
    assert list(M.prunable_parameters(model.state_dict())) == expected  # as ranked after training
    shapes = M.prunable_shapes(model)
    assert shapes["bert.encoder.layer.1.intermediate.dense.weight"] == torch.Size([32, 16])
    assert [M.layer_of(n) for n in expected] == ["0"] * 6 + ["1"] * 6 + ["pooler"]
    # The bare encoder has no "bert." prefix.
    bare = transformers.BertModel(bert_config)
    assert list(M.prunable_parameters(bare)) == bert_names(2, prefix="") + ["pooler.dense.weight"]


def test_prunable_t5_relu_and_gated(transformers):
    relu = M.prunable_parameters(t5_model(transformers), "t5")
    # encoder block: q k v o + wi wo; decoder block: q k v o (self) + q k v o (cross) + wi wo
    assert len(relu) == 2 * 6 + 2 * 10
    gated_model = t5_model(transformers, feed_forward_proj="gated-gelu")
    assert M.infer_family(gated_model) == "t5"
    gated = M.prunable_parameters(gated_model, "t5")
    assert len(gated) == 2 * 7 + 2 * 11
    assert "decoder.block.1.layer.1.EncDecAttention.k.weight" in gated
    assert "encoder.block.0.layer.1.DenseReluDense.wi_1.weight" in gated
    assert not any(s in n for n in gated for s in ("relative_attention_bias", "layer_norm", "shared", "lm_head"))
    assert M.layer_of("decoder.block.1.layer.1.EncDecAttention.k.weight") == "decoder.1"
    assert {M.layer_of(n) for n in gated} == {"encoder.0", "encoder.1", "decoder.0", "decoder.1"}


def test_infer_family_mt5_and_unknown(transformers):
    mt5 = transformers.MT5ForConditionalGeneration(
        transformers.MT5Config(vocab_size=50, d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2)
    )
    assert M.infer_family(mt5) == "t5"
    with pytest.raises(ValueError, match="gpt2"):
        M.infer_family(SimpleNamespace(config=SimpleNamespace(model_type="gpt2")))


def test_wrong_family_and_unknown_layer(transformers, bert_config):
    with pytest.raises(ValueError, match="t5"):
        M.prunable_parameters(transformers.BertForMaskedLM(bert_config), "t5")
    with pytest.raises(ValueError, match="classifier.weight"):
        M.layer_of("classifier.weight")


# ------------------------------------------------------------------------------------------ magnitude IMP

SHAPES = {"w_a": (7, 13), "w_b": (32, 5), "w_c": (50,), "w_d": (3, 4, 5)}


def test_magnitude_prune_matches_torch_global_l1_over_rounds():
    """torch's global_unstructured with an int amount prunes that many among the still-unpruned entries
    (PruningContainer restricts the ranking to the current mask), so 5 rounds of round(0.1 * original)
    must give our masks exactly. Fresh continuous weights each round play the part of training."""
    generator = torch.Generator().manual_seed(0)
    modules = {name: torch.nn.Module() for name in SHAPES}
    for name, module in modules.items():
        module.weight = torch.nn.Parameter(torch.zeros(SHAPES[name]))
    total = sum(math.prod(s) for s in SHAPES.values())
    per_round = round(0.1 * total)
    mask = None
    for r in range(1, 6):
        weights = {name: torch.randn(shape, generator=generator) for name, shape in SHAPES.items()}
        prune.global_unstructured(
            [(module, "weight") for module in modules.values()],
            pruning_method=prune.L1Unstructured,
            importance_scores={(modules[n], "weight"): weights[n] for n in SHAPES},
            amount=per_round,
        )
        mask = M.magnitude_prune(weights, mask, 0.1)
        for name, module in modules.items():
            assert torch.equal(mask[name], module.weight_mask.bool()), (r, name)
        assert M.kept_count(mask) == total - r * per_round
        assert all(m.dtype == torch.bool and m.device.type == "cpu" for m in mask.values())


def test_magnitude_prune_counts_inputs_and_limits():
    generator = torch.Generator().manual_seed(1)
    weights = {name: torch.randn(shape, generator=generator) for name, shape in SHAPES.items()}
    originals = {n: w.clone() for n, w in weights.items()}
    total = sum(w.numel() for w in weights.values())
    mask = M.magnitude_prune(weights, None, 0.3)
    assert M.kept_count(mask) == total - round(0.3 * total)
    assert M.sparsity(mask) == pytest.approx(round(0.3 * total) / total)
    frozen = {n: m.clone() for n, m in mask.items()}
    again = M.magnitude_prune(weights, mask, 0.3)
    assert M.kept_count(again) == total - 2 * round(0.3 * total)
    assert all(torch.equal(mask[n], frozen[n]) for n in mask)  # the input mask is untouched
    assert all(torch.equal(weights[n], originals[n]) for n in weights)
    assert all((again[n] <= mask[n]).all() for n in mask)  # pruned stays pruned
    same = M.magnitude_prune(weights, mask, 0.0)
    assert all(torch.equal(same[n], mask[n]) for n in mask)
    with pytest.raises(ValueError, match="only"):
        M.magnitude_prune(weights, again, 0.5)
    with pytest.raises(ValueError, match="w_b"):
        M.magnitude_prune(weights, {**mask, "w_b": torch.ones(5, 32, dtype=torch.bool)}, 0.1)


def test_magnitude_prune_ties_are_broken_by_name_then_position():
    """|w| = 2 occurs three times; removing 2 takes 1.0 and then the earliest 2 in (sorted name, index)
    order: w_a[1]. The dict's insertion order does not matter."""
    a = torch.tensor([1.0, -2.0, 2.0, 3.0])
    b = torch.tensor([2.0, 5.0])
    first = M.magnitude_prune({"w_b": b, "w_a": a}, None, 2 / 6)
    second = M.magnitude_prune({"w_a": a, "w_b": b}, None, 2 / 6)
    expected_a, expected_b = torch.tensor([False, False, True, True]), torch.tensor([True, True])
    for result in (first, second):
        assert torch.equal(result["w_a"], expected_a) and torch.equal(result["w_b"], expected_b)
    three = M.magnitude_prune({"w_a": a, "w_b": b}, None, 3 / 6)
    assert torch.equal(three["w_a"], torch.tensor([False, False, False, True]))
    assert torch.equal(three["w_b"], expected_b)
    # Many ties over several tensors: still exact counts and repeatable.
    flat = {name: torch.ones(shape) for name, shape in SHAPES.items()}
    x, y = M.magnitude_prune(flat, None, 0.37), M.magnitude_prune(flat, None, 0.37)
    assert all(torch.equal(x[n], y[n]) for n in x)
    total = sum(math.prod(s) for s in SHAPES.values())
    assert M.kept_count(x) == total - round(0.37 * total)


def test_magnitude_prune_refuses_non_finite():
    with pytest.raises(ValueError, match="w_a"):
        M.magnitude_prune({"w_a": torch.tensor([1.0, float("nan")])}, None, 0.5)


# ----------------------------------------------------------------------------------------------- random


def big_shapes() -> dict[str, tuple[int, ...]]:
    names = bert_names(2, prefix="")
    return {name: (100, 80 + 10 * i) for i, name in enumerate(names)} | {"pooler.dense.weight": (33, 17)}


def test_random_mask_counts_seeds_and_overlap():
    shapes = big_shapes()
    total = sum(math.prod(s) for s in shapes.values())
    assert total > 100_000
    a = M.random_mask(shapes, 0.5, seed=0)
    assert total - M.kept_count(a) == round(0.5 * total)
    assert all(a[n].shape == torch.Size(shapes[n]) and a[n].dtype == torch.bool for n in shapes)
    assert all(torch.equal(a[n], M.random_mask(shapes, 0.5, seed=0)[n]) for n in shapes)
    b = M.random_mask(shapes, 0.5, seed=1)
    assert not all(torch.equal(a[n], b[n]) for n in shapes)
    assert M.jaccard_by_layer([a, b])["all"] == pytest.approx(1 / 3, abs=0.01)
    assert M.expected_random_jaccard(0.5) == pytest.approx(1 / 3)
    assert M.expected_random_jaccard(0.5, n_masks=3) == pytest.approx(0.125 / 0.875)
    odd = M.random_mask({"w_a": (3, 7)}, 0.3, seed=5)
    assert 21 - M.kept_count(odd) == round(0.3 * 21)


def test_random_prune_continues_a_ticket():
    shapes = big_shapes()
    generator = torch.Generator().manual_seed(2)
    ticket = M.magnitude_prune({n: torch.randn(s, generator=generator) for n, s in shapes.items()}, None, 0.2)
    total = sum(m.numel() for m in ticket.values())
    further = M.random_prune(ticket, 0.5, seed=3)
    assert total - M.kept_count(further) == round(0.5 * total)
    assert all((further[n] <= ticket[n]).all() for n in ticket)
    assert all(torch.equal(further[n], M.random_prune(ticket, 0.5, seed=3)[n]) for n in ticket)
    with pytest.raises(ValueError, match="sparser"):
        M.random_prune(further, 0.3, seed=0)


# ---------------------------------------------------------------------------------------------- overlap


def t(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.bool)


L0Q, L0I = "bert.encoder.layer.0.attention.self.query.weight", "bert.encoder.layer.0.intermediate.dense.weight"
L1Q, POOL = "bert.encoder.layer.1.attention.self.query.weight", "bert.pooler.dense.weight"
A = {L0Q: t([1, 1], [0, 0]), L0I: t([1, 1, 1, 0]), L1Q: t([1, 1], [1, 1]), POOL: t(1, 0, 1)}
B = {L0Q: t([1, 0], [1, 0]), L0I: t([1, 1, 0, 0]), L1Q: t([0, 0], [0, 1]), POOL: t(1, 1, 1)}
C = {L0Q: t([1, 1], [1, 1]), L0I: t([0, 1, 0, 1]), L1Q: t([0, 0], [0, 0]), POOL: t(0, 0, 0)}


def test_jaccard_two_masks_by_hand():
    # layer 0: query 1 in both / 3 in either, intermediate 2 / 3 -> 3 / 6
    # layer 1: query 1 / 4; pooler 2 / 3; all (1 + 2 + 1 + 2) / (3 + 3 + 4 + 3) = 6 / 13
    result = M.jaccard_by_layer([A, B])
    assert list(result) == ["0", "1", "pooler", "all"]
    assert result == pytest.approx({"0": 0.5, "1": 0.25, "pooler": 2 / 3, "all": 6 / 13})


def test_jaccard_three_masks_by_hand():
    # layer 0: query kept in all only at [0, 0] (1), in any at 4; intermediate all at [1] (1), any at 4 -> 2 / 8
    # layer 1: none in all (C keeps nothing) / 4; pooler 0 / 3; all 2 / 15
    result = M.jaccard_by_layer([A, B, C])
    assert result == pytest.approx({"0": 0.25, "1": 0.0, "pooler": 0.0, "all": 2 / 15})


def test_jaccard_empty_layer_is_nan_and_layouts_must_agree():
    empty = {n: torch.zeros_like(m) for n, m in A.items()}
    result = M.jaccard_by_layer([empty, {n: m.clone() for n, m in empty.items()}])
    assert all(math.isnan(v) for v in result.values())
    with pytest.raises(ValueError, match="pooler"):
        M.jaccard_by_layer([A, {n: m for n, m in B.items() if n != POOL}])
    with pytest.raises(ValueError, match="two or more"):
        M.jaccard_by_layer([A])


def test_jaccard_layers_in_model_order_whatever_the_mask_order():
    # IMP masks come in sorted name order ("layer.10" before "layer.2"; "decoder" before "encoder"); the layers
    # of the overlap must still run as the model stacks them.
    bert = {f"bert.encoder.layer.{i}.output.dense.weight": t(1, 0) for i in (10, 11, 2, 0, 1)}
    assert list(M.jaccard_by_layer([bert, bert])) == ["0", "1", "2", "10", "11", "all"]
    t5 = {
        f"{side}.block.{i}.layer.0.SelfAttention.q.weight": t(1, 1)
        for side in ("decoder", "encoder")
        for i in (1, 0)
    }
    order = list(M.jaccard_by_layer([t5, t5]))
    assert order == ["encoder.0", "encoder.1", "decoder.0", "decoder.1", "all"]


# ---------------------------------------------------------------------------------------------- files


def test_save_load_round_trip_and_size(tmp_path):
    shapes = big_shapes() | {"bert.encoder.layer.5.output.dense.weight": (3, 7)}  # 21 bits: not a byte multiple
    mask = M.random_mask(shapes, 0.3, seed=4)
    metadata = {
        "theta0_fingerprint": "0123abcd",
        "task": "ner",
        "language": "1",  # a string that looks like a number stays a string
        "seed": 7,
        "method": "imp",
        "curve": [0.5, 0.75],
        "note": None,
        "sparsity": M.sparsity(mask),  # computed keys may be passed when they agree
    }
    path = tmp_path / "sub" / "mask.safetensors"
    M.save_mask(path, mask, metadata)
    loaded, meta = M.load_mask(path)
    assert list(loaded) == list(mask)
    assert all(loaded[n].dtype == torch.bool and torch.equal(loaded[n], mask[n]) for n in mask)
    assert {k: meta[k] for k in metadata} == metadata
    assert meta["names"] == list(mask) and meta["shapes"] == [list(s) for s in shapes.values()]
    assert meta["kept_count"] == M.kept_count(mask)
    total = sum(m.numel() for m in mask.values())
    assert os.path.getsize(path) <= math.ceil(total / 8) + 8192
    assert os.listdir(path.parent) == ["mask.safetensors"]


def test_load_refuses_corrupt_files(tmp_path):
    mask = M.random_mask(big_shapes(), 0.5, seed=0)
    good = tmp_path / "good.safetensors"
    M.save_mask(good, mask, {"method": "random"})
    data = good.read_bytes()
    cases = {
        "truncated.safetensors": data[: len(data) // 2],
        "garbage.safetensors": b"this is not a mask at all",
        "empty.safetensors": b"",
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    other = tmp_path / "weights.safetensors"
    save_file({"weight": np.zeros(3, dtype=np.float32)}, str(other))
    for path in [tmp_path / name for name in cases] + [other]:
        with pytest.raises(ValueError, match=path.name):
            M.load_mask(path)


def test_failing_save_leaves_nothing_behind(tmp_path):
    mask = M.random_mask({"bert.pooler.dense.weight": (4, 4)}, 0.5, seed=0)
    path = tmp_path / "mask.safetensors"
    M.save_mask(path, mask, {"method": "random"})
    before = path.read_bytes()
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        M.save_mask(path, mask, {"method": object()})
    with pytest.raises(ValueError, match="sparsity"):
        M.save_mask(path, mask, {"sparsity": 0.9})
    assert os.listdir(tmp_path) == ["mask.safetensors"] and path.read_bytes() == before


def test_check_mask_fits(transformers, bert_config, tmp_path):
    model = transformers.BertForSequenceClassification(bert_config)
    mask = M.random_mask(M.prunable_shapes(model), 0.5, seed=0)
    M.check_mask_fits(mask, model, path="m.safetensors", theta0_fingerprint="f0", metadata={"theta0_fingerprint": "f0"})
    M.check_mask_fits(mask, M.prunable_parameters(model))
    # A mask of another head: the pooler is an extra name for the MLM model.
    with pytest.raises(ValueError, match=r"m\.safetensors.*bert\.pooler\.dense\.weight"):
        M.check_mask_fits(mask, transformers.BertForMaskedLM(bert_config), path="m.safetensors")
    missing = {n: m for n, m in mask.items() if n != bert_names(2)[4]}
    with pytest.raises(ValueError, match=r"lacks parameter 'bert\.encoder\.layer\.0\.intermediate\.dense\.weight'"):
        M.check_mask_fits(missing, model, path="m.safetensors")
    wider = transformers.BertForSequenceClassification(
        transformers.BertConfig(vocab_size=50, hidden_size=24, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=32)
    )
    with pytest.raises(ValueError, match=r"m\.safetensors.*'bert\.encoder\.layer\.0\.attention\.self\.query\.weight'"):
        M.check_mask_fits(mask, wider, path="m.safetensors")
    with pytest.raises(ValueError, match="f0.*f1"):
        M.check_mask_fits(mask, model, path="m.safetensors", theta0_fingerprint="f1",
                          metadata={"theta0_fingerprint": "f0"})


def test_apply_mask_zeroes_pruned_entries_only(transformers, bert_config):
    model = transformers.BertForTokenClassification(bert_config)
    params = M.prunable_parameters(model)
    name = bert_names(2)[0]
    with torch.no_grad():
        params[name][0, 0] = float("nan")
    mask = M.random_mask(M.prunable_shapes(model), 0.5, seed=0)
    mask[name][0, 0] = False
    before = {n: p.detach().clone() for n, p in params.items()}
    M.apply_mask_(model, mask)
    for n, p in params.items():
        assert (p[~mask[n]] == 0).all()
        assert torch.equal(p[mask[n]], before[n][mask[n]])
    with pytest.raises(ValueError, match="nope"):
        M.apply_mask_(model, {"nope.weight": torch.ones(1, dtype=torch.bool)})


def test_carry_over_keeps_shared_decisions_and_adds_the_pooler_dense():
    ticket = {"encoder.layer.0.output.dense.weight": torch.tensor([[True, False], [False, True]]),
              "only.in.ticket": torch.tensor([False])}
    shapes = {"encoder.layer.0.output.dense.weight": (2, 2), "pooler.dense.weight": (2, 2)}
    carried, added = M.carry_over(ticket, shapes)
    assert list(carried) == list(shapes) and added == ["pooler.dense.weight"]
    assert torch.equal(carried["encoder.layer.0.output.dense.weight"], ticket["encoder.layer.0.output.dense.weight"])
    assert carried["pooler.dense.weight"].all()
    # the sparsity the ticket decided is what the check compares; the dense pooler does not dilute it
    metadata = {"added_dense": added}
    assert M.sparsity(carried) == pytest.approx(2 / 8)
    assert M.decided_sparsity(carried, metadata) == pytest.approx(0.5)
    M.check_sparsity(carried, metadata, 50, "x.safetensors")
    with pytest.raises(ValueError, match="x.safetensors: sparsity is 25%, but 50%"):
        M.check_sparsity(carried, {}, 50, "x.safetensors")
    with pytest.raises(ValueError, match="shape"):
        M.carry_over(ticket, {"encoder.layer.0.output.dense.weight": (4, 1)})
    with pytest.raises(ValueError, match="share no prunable parameter"):
        M.carry_over(ticket, {"pooler.dense.weight": (2, 2)})


def test_equal_masks_give_equal_files_in_every_process(tmp_path):
    """The safetensors library writes metadata in hash order, which changes from process to process; save_mask
    writes it in the provenance record's fixed order, so the same mask and provenance give the same bytes."""
    import hashlib
    import subprocess
    import sys

    code = (
        "import sys, torch\n"
        "from subnets import masks\n"
        "mask = {'encoder.layer.1.output.dense.weight': torch.arange(12).reshape(3, 4) % 3 == 0,\n"
        "        'encoder.layer.0.output.dense.weight': torch.arange(6).reshape(2, 3) % 2 == 0}\n"
        "record = masks.Provenance('imp', 'ner', 't0', 0, 50, 'abcd', parent='x.safetensors', details={'b': 1, 'a': 2})\n"
        "masks.save_mask(sys.argv[1], mask, record)\n"
    )
    digests = set()
    for i in range(3):
        path = tmp_path / f"mask{i}.safetensors"
        env = {"PYTHONHASHSEED": str(i)}  # different hash seeds, as different processes have
        subprocess.run([sys.executable, "-c", code, str(path)], check=True, env={**__import__("os").environ, **env})
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    assert len(digests) == 1
    mask, metadata = M.load_mask(tmp_path / "mask0.safetensors")
    assert list(metadata)[:5] == ["method", "task", "language", "seed", "sparsity_percent"]  # the record's order
    assert M.Provenance.from_metadata(metadata).parent == "x.safetensors"
    assert list(mask) == ["encoder.layer.1.output.dense.weight", "encoder.layer.0.output.dense.weight"]
