"""Resume states: a training run killed part-way and run again ends bit for bit where an uninterrupted run ends.

- in process: a SIGTERM at a step boundary saves the state and stops with exit code 143; a new trainer continues
  and its curve, peak, peak weights and final weights equal an uninterrupted run's (NER, and MLM, whose collator
  draws its masking from the global RNG between steps); a state of another run is discarded, not continued;
- in a subprocess: an IMP round killed by SIGTERM and one killed by SIGKILL (wherever it was, possibly in the
  middle of writing a state) are run again; the next mask and the metrics equal the uninterrupted round's, and
  the state directory is gone at the end.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import datasets
import pytest
import torch

from subnets import masks, resume
from subnets.imp import run_imp_round
from subnets.tasks import get_task
from subnets.theta0 import build_task_model
from subnets.training import MaskedTrainer, Preempted, TrainingConfig

CONFIG = dict(learning_rate=1e-3, batch_size=16, eval_batch_size=32, eval_every=4, seed=0)
# 96 training rows in batches of 16: 6 steps per epoch, so 20 steps cross three epoch boundaries.
STEPS = 20


def _config(**overrides) -> TrainingConfig:
    return TrainingConfig(**{**CONFIG, "max_steps": STEPS, **overrides})


@pytest.fixture(scope="module")
def mlm_data(tiny_bert_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    task = get_task("mlm")
    words = "the a cat dog sees likes finds big small old new in on with anna bob paris".split()
    rng = random.Random(0)
    texts = {split: [" ".join(rng.choices(words, k=rng.randint(6, 40))) for _ in range(n)]
             for split, n in (("train", 40), ("validation", 12))}  # fmt: skip
    data = datasets.DatasetDict(
        {
            split: task.tokenize(
                datasets.Dataset.from_dict({"text": rows}), tokenizer, max_length=16, split=split, seed=0
            )
            for split, rows in texts.items()
        }
    )
    return task, tokenizer, data


def _trainer(model_dir, task, tokenizer, data, state_dir=None, **kwargs) -> MaskedTrainer:
    model = build_task_model(str(model_dir), task, seed=0)
    return MaskedTrainer(
        model, task, tokenizer, data["train"], data["validation"], _config(**kwargs),
        progress=False, state_dir=state_dir, save_every=5,
    )  # fmt: skip


def _sigterm_after(trainer: MaskedTrainer, steps: int) -> None:
    """Make ``trainer`` send itself a SIGTERM during its ``steps``-th step (as SLURM would, at any moment)."""
    original = trainer._train_step

    def step(batch, done):
        if done + 1 == steps:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(batch, done)

    trainer._train_step = step


def _stop_at(model_dir, task, tokenizer, data, state_dir, steps: int, **kwargs) -> Preempted:
    """Train with ``state_dir`` until a SIGTERM during step ``steps`` stops the run; return the stop."""
    interrupted = _trainer(model_dir, task, tokenizer, data, state_dir, **kwargs)
    _sigterm_after(interrupted, steps)
    with pytest.raises(Preempted) as stopped:
        interrupted.train()
    return stopped.value


def _assert_same_states(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def _assert_same_result(result, reference) -> None:
    assert result.summary() == reference.summary()
    _assert_same_states(result.peak_state, reference.peak_state)
    _assert_same_states(result.final_state, reference.final_state)


@pytest.mark.parametrize("data_fixture", ["ner_data", "mlm_data"])
def test_sigterm_saves_and_a_new_trainer_continues_bit_for_bit(request, tiny_bert_dir, tmp_path, data_fixture):
    task, tokenizer, data = request.getfixturevalue(data_fixture)
    reference = _trainer(tiny_bert_dir, task, tokenizer, data).train()

    state_dir = tmp_path / "resume"
    # Mid-epoch, after a periodic save at step 5 and an evaluation at step 8.
    stopped = _stop_at(tiny_bert_dir, task, tokenizer, data, state_dir, 9)
    assert stopped.code == 128 + signal.SIGTERM
    assert resume.load_state(state_dir)[1]["step"] == 9
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is gone once training stops

    resumed = _trainer(tiny_bert_dir, task, tokenizer, data, state_dir).train()
    assert resumed.resumed_from_step == 9
    _assert_same_result(resumed, reference)
    assert not state_dir.exists()


def test_a_state_of_another_run_is_not_continued(tiny_bert_dir, tmp_path, ner_data):
    task, tokenizer, data = ner_data
    state_dir = tmp_path / "resume"
    _stop_at(tiny_bert_dir, task, tokenizer, data, state_dir, 7)
    other = _trainer(tiny_bert_dir, task, tokenizer, data, state_dir, learning_rate=5e-4)
    assert other.train().resumed_from_step == 0
    assert not state_dir.exists()


@pytest.fixture(scope="module")
def ner_reference(tiny_bert_dir, ner_data):
    """An uninterrupted NER run without a state directory."""
    task, tokenizer, data = ner_data
    return _trainer(tiny_bert_dir, task, tokenizer, data).train()


@pytest.mark.parametrize("garbage", [bytes(range(256)) * 64, b""], ids=["garbage", "empty"])
def test_an_unreadable_state_is_set_aside_and_the_run_starts_afresh(
    tiny_bert_dir, tmp_path, ner_data, ner_reference, capsys, garbage
):
    task, tokenizer, data = ner_data
    state_dir = tmp_path / "round" / "resume"
    state_dir.mkdir(parents=True)
    state_file = resume.state_path(state_dir)
    state_file.write_bytes(garbage)  # the first 8 bytes give a header length of 2**58: "header too large"

    result = _trainer(tiny_bert_dir, task, tokenizer, data, state_dir).train()
    assert result.resumed_from_step == 0
    _assert_same_result(result, ner_reference)
    assert not state_dir.exists()
    aside = list(state_dir.parent.glob("resume.state.safetensors.corrupt-*"))  # kept, outside the removed dir
    assert len(aside) == 1 and aside[0].read_bytes() == garbage
    warning = capsys.readouterr().err
    assert f"cannot read the resume state {state_file}" in warning and str(aside[0]) in warning


def test_a_resumed_run_keeps_the_model_order_and_writes_the_same_mask(
    tiny_bert_dir, tmp_path, ner_data, ner_reference
):
    task, tokenizer, data = ner_data
    state_dir = tmp_path / "resume"
    _stop_at(tiny_bert_dir, task, tokenizer, data, state_dir, 9)
    resumed = _trainer(tiny_bert_dir, task, tokenizer, data, state_dir).train()
    assert resumed.resumed_from_step == 9
    _assert_same_result(resumed, ner_reference)
    assert resumed.peak_step < resumed.resumed_from_step  # the peak weights came back from the state file

    order = list(build_task_model(str(tiny_bert_dir), task, seed=0).state_dict())
    assert list(resumed.peak_state) == order
    assert list(resumed.final_state) == order
    digests = []
    for name, result in (("uninterrupted", ner_reference), ("resumed", resumed)):
        next_mask = masks.magnitude_prune(masks.prunable_parameters(result.peak_state, "bert"), None, 0.1)
        path = tmp_path / f"{name}.safetensors"
        masks.save_mask(path, next_mask, {"task": "ner"})
        digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
    assert digests[0] == digests[1]


# An IMP round in a process of its own. Each step is slowed down (a sleep after each step changes no number) so
# that the parent can kill it part-way whatever the machine's speed.
CHILD = textwrap.dedent(
    """
    import sys, time
    import datasets, torch
    from transformers import AutoTokenizer
    from subnets.imp import run_imp_round
    from subnets.tasks import get_task
    from subnets.training import MaskedTrainer, TrainingConfig

    torch.set_num_threads(1)
    model_dir, data_dir, state_dir, config = sys.argv[1], sys.argv[2], sys.argv[3], eval(sys.argv[4])
    original = MaskedTrainer._train_step

    def slow_step(self, batch, step):
        loss = original(self, batch, step)
        time.sleep(0.1)
        return loss

    MaskedTrainer._train_step = slow_step
    task = get_task("ner")
    run_imp_round(
        model_dir, task, AutoTokenizer.from_pretrained(model_dir), datasets.load_from_disk(data_dir),
        TrainingConfig(**config), None, progress=False, state_dir=state_dir, save_every=5,
    )
    """
)


def _kill_after_first_state(command: list[str], state_file: Path, signum: int) -> int:
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not state_file.exists():
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            pytest.fail(f"no resume state appeared before the round ended:\n{child.communicate()[0]}")
        time.sleep(0.05)
    child.send_signal(signum)
    output = child.communicate(timeout=60)[0]
    assert state_file.exists(), output
    return child.returncode


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_killed_imp_round_resumes_to_the_same_mask(tiny_bert_dir, tmp_path, ner_data, signum):
    task, tokenizer, data = ner_data
    data_dir, state_dir = tmp_path / "data", tmp_path / "round" / "resume"
    data.save_to_disk(str(data_dir))
    config = {**CONFIG, "max_steps": STEPS}
    command = [sys.executable, "-c", CHILD, str(tiny_bert_dir), str(data_dir), str(state_dir), repr(config)]

    returncode = _kill_after_first_state(command, resume.state_path(state_dir), signum)
    assert returncode == (128 + signum if signum == signal.SIGTERM else -signum)

    reference = run_imp_round(str(tiny_bert_dir), task, tokenizer, data, _config(), None, progress=False)
    resumed = run_imp_round(
        str(tiny_bert_dir), task, tokenizer, datasets.load_from_disk(str(data_dir)), _config(), None,
        progress=False, state_dir=str(state_dir), save_every=5,
    )  # fmt: skip
    assert 0 < resumed.resumed_from_step < STEPS
    assert resumed.metrics == reference.metrics
    assert resumed.next_mask.keys() == reference.next_mask.keys()
    for name, kept in reference.next_mask.items():
        assert torch.equal(resumed.next_mask[name], kept), name
    assert not state_dir.exists()
