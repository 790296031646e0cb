"""theta0's snapshot: the whole pre-training checkpoint (pooler included), mT5's sentencepiece tokenizer and
pytorch_model.bin, and the pinned, recorded revision of the model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from subnets.tasks import get_task
from subnets.theta0 import build_task_model, snapshot_info, snapshot_pretrained
from subnets.toy.tokenizer import wordpiece_tokenizer

ROOT = Path(__file__).resolve().parents[1]
WORDS = "the a cat dog sees likes paris berlin old new ##s ##ed".split()


def save_pretraining_checkpoint(path: Path) -> Path:
    """A tiny BERT pre-training checkpoint (MLM head, NSP head and pooler), as mBERT's is."""
    from transformers import BertConfig, BertForPreTraining

    tokenizer = wordpiece_tokenizer(WORDS)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32, pad_token_id=tokenizer.pad_token_id)  # fmt: skip
    torch.manual_seed(1)
    model = BertForPreTraining(config)
    with torch.no_grad():  # a pooler no fresh initialisation could reproduce
        model.bert.pooler.dense.weight.copy_(torch.arange(256, dtype=torch.float32).reshape(16, 16) / 100)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_snapshot_keeps_the_pretrained_pooler_and_the_nli_model_uses_it(tmp_path):
    checkpoint = save_pretraining_checkpoint(tmp_path / "mbert-like")
    saved = load_file(str(checkpoint / "model.safetensors"))
    snapshot = snapshot_pretrained(checkpoint, tmp_path / "snapshot", "bert")
    in_snapshot = load_file(str(snapshot / "model.safetensors"))
    for name in ("bert.pooler.dense.weight", "bert.pooler.dense.bias", "cls.seq_relationship.weight"):
        assert torch.equal(in_snapshot[name], saved[name]), name
    assert snapshot_info(snapshot)["missing_from_checkpoint"] == []

    nli = build_task_model(snapshot, get_task("nli"), seed=0)
    assert torch.equal(nli.bert.pooler.dense.weight, saved["bert.pooler.dense.weight"])
    assert torch.equal(nli.bert.pooler.dense.bias, saved["bert.pooler.dense.bias"])
    body = {k: v for k, v in nli.state_dict().items() if k.startswith("bert.")}
    assert all(torch.equal(v, saved[k]) for k, v in body.items())  # theta0's body IS the published weights
    mlm = build_task_model(snapshot, get_task("mlm"), seed=0)  # the MLM head comes through as well
    assert torch.equal(mlm.cls.predictions.transform.dense.weight, saved["cls.predictions.transform.dense.weight"])


def test_a_checkpoint_without_pooler_is_reported_and_reproducible(tmp_path, tiny_bert_dir):
    with pytest.warns(UserWarning, match=r"lacks 4 weight\(s\) of BertForPreTraining \(bert\.pooler\.dense\.bias"):
        first = snapshot_pretrained(tiny_bert_dir, tmp_path / "a", "bert")
    with pytest.warns(UserWarning):
        second = snapshot_pretrained(tiny_bert_dir, tmp_path / "b", "bert")
    assert "bert.pooler.dense.weight" in snapshot_info(first)["missing_from_checkpoint"]
    a, b = load_file(str(first / "model.safetensors")), load_file(str(second / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_local_model_is_recorded_as_local_with_a_content_hash(tmp_path):
    checkpoint = save_pretraining_checkpoint(tmp_path / "ckpt")
    info = snapshot_info(snapshot_pretrained(checkpoint, tmp_path / "s1", "bert"))
    assert info["kind"] == "local" and info["revision"] == "local" and re.fullmatch(r"[0-9a-f]{16}", info["content_hash"])
    assert info["model_class"] == "BertForPreTraining"
    (checkpoint / "config.json").write_text((checkpoint / "config.json").read_text().replace("16", "16 "))
    assert snapshot_info(snapshot_pretrained(checkpoint, tmp_path / "s2", "bert"))["content_hash"] != info["content_hash"]
    with pytest.raises(ValueError, match="model.revision 'v1' is set, but .* is a local directory"):
        snapshot_pretrained(checkpoint, tmp_path / "s3", "bert", revision="v1")


def test_hub_model_revision_is_resolved_passed_to_from_pretrained_and_recorded(tmp_path, monkeypatch):
    """A hub id with model.revision: every from_pretrained reads the resolved commit; snapshot.json records it."""
    import transformers

    from subnets.data import hub

    checkpoint = save_pretraining_checkpoint(tmp_path / "ckpt")
    commit = "0123456789abcdef0123456789abcdef01234567"
    asked, loads = [], []

    class Api:
        def model_info(self, repo, revision):
            asked.append((repo, revision))
            return type("Info", (), {"sha": commit, "siblings": []})()

    monkeypatch.setattr(hub, "hub_api", lambda: Api())

    def redirect(cls_method):
        original = cls_method.__func__

        def load(cls, source, *args, **kwargs):
            loads.append((cls.__name__, source, kwargs.get("revision")))
            return original(cls, checkpoint if source == "owner/mbert-like" else source, *args,
                            **{k: v for k, v in kwargs.items() if k != "revision"})  # fmt: skip

        return classmethod(load)

    for cls in (transformers.AutoConfig, transformers.AutoTokenizer, transformers.AutoModelForPreTraining):
        monkeypatch.setattr(cls, "from_pretrained", redirect(cls.from_pretrained))
    snapshot = snapshot_pretrained("owner/mbert-like", tmp_path / "snap", "bert", revision="v1.0")
    assert asked == [("owner/mbert-like", "v1.0")]
    assert {(name, revision) for name, source, revision in loads if source == "owner/mbert-like"} == {
        ("AutoConfig", commit), ("AutoTokenizer", commit), ("AutoModelForPreTraining", commit)
    }  # fmt: skip
    info = snapshot_info(snapshot)
    assert info == {**info, "kind": "hub", "id": "owner/mbert-like", "requested": "v1.0", "revision": commit}
    snapshot_pretrained("owner/mbert-like", tmp_path / "snap-main", "bert")
    assert asked[-1] == ("owner/mbert-like", "main")


def test_mt5_sentencepiece_tokenizer_and_pytorch_bin_go_through_the_snapshot(tmp_path):
    """google/mt5-base ships spiece.model (no tokenizer.json) and pytorch_model.bin only."""
    spm = pytest.importorskip("sentencepiece")
    import io

    from transformers import AutoTokenizer, MT5Config, MT5ForConditionalGeneration

    words = "the cat sees a dog in paris and berlin old new big small house river".split()
    lines = [" ".join(words[(i * 7 + j) % len(words)] for j in range(8)) for i in range(200)]
    model_file = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=model_file, vocab_size=32,
                                   model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, minloglevel=2)  # fmt: skip
    source = tmp_path / "mt5-like"
    source.mkdir()
    (source / "spiece.model").write_bytes(model_file.getvalue())
    (source / "special_tokens_map.json").write_text(json.dumps({"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}))
    (source / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 512}))
    config = MT5Config(vocab_size=32, d_model=16, d_kv=4, d_ff=32, num_layers=1, num_decoder_layers=1, num_heads=2,
                       decoder_start_token_id=0, pad_token_id=0, eos_token_id=1, tie_word_embeddings=False)  # fmt: skip
    torch.manual_seed(0)
    model = MT5ForConditionalGeneration(config)
    config.save_pretrained(source)
    # mt5-base's output layer is not tied to its input embeddings: two tensors with different values.
    state = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    state["lm_head.weight"] = torch.randn(state["shared.weight"].shape, generator=torch.Generator().manual_seed(1))
    torch.save(state, source / "pytorch_model.bin")
    assert sorted(p.name for p in source.iterdir()) == [
        "config.json", "pytorch_model.bin", "special_tokens_map.json", "spiece.model", "tokenizer_config.json"
    ]  # fmt: skip

    snapshot = snapshot_pretrained(source, tmp_path / "snapshot", "t5")
    assert (snapshot / "model.safetensors").is_file() and not (snapshot / "pytorch_model.bin").exists()
    weights = load_file(str(snapshot / "model.safetensors"))
    assert torch.equal(weights["shared.weight"], state["shared.weight"])
    # transformers' MT5Config forces tie_word_embeddings=True, but ties only when the checkpoint's two tensors
    # agree: the untied output layer survives the snapshot and the task model.
    assert torch.equal(weights["lm_head.weight"], state["lm_head.weight"])

    theta0 = build_task_model(snapshot, get_task("nli", "t5"), seed=0)
    assert torch.equal(theta0.lm_head.weight, state["lm_head.weight"])
    assert torch.equal(theta0.get_input_embeddings().weight, state["shared.weight"])
    processor = spm.SentencePieceProcessor(model_proto=model_file.getvalue())
    text = "the cat sees a dog in berlin"
    assert AutoTokenizer.from_pretrained(snapshot)(text).input_ids == processor.encode(text) + [1]


def test_dependencies_cover_mt5_and_mbert_checkpoints():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = {re.split(r"[<>=!~ ]", r, maxsplit=1)[0].lower(): r for r in project["dependencies"]}
    assert "sentencepiece" in requirements and "protobuf" in requirements  # spiece.model -> fast tokenizer
    floor = re.search(r">=\s*(\d+)\.(\d+)", requirements["torch"])
    assert floor and (int(floor.group(1)), int(floor.group(2))) >= (2, 6)  # transformers loads .bin only then
    env = (ROOT / "envs" / "subnets.yaml").read_text()
    assert "torch>=2.6" in env.replace(" ", "")
