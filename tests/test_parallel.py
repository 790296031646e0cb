"""Data-parallel training (subnets.parallel) on CPU: two processes with gloo, the path two GPUs take with NCCL.

- batch shares are contiguous, in rank order, and together the whole batch; their loss weights make DDP's
  average of the gradients the gradient of the global batch's mean loss;
- a masked NER run in two processes (batch 11: uneven shares) equals the one-process run: evaluation curve,
  peak, peak and final weights, the next IMP mask; pruned weights stay exactly zero;
- an MLM run in two processes where only process 1 gets a SIGTERM: both stop at the same step and process 0
  writes the state; a two-process rerun continues from the state and ends where the one-process run ends
  (MLM: the collator's masking draws must be those of one process). Both runs and the rerun share one launch
  (starting processes is most of the time), so the rerun continues in the same processes;
- the dependency is one-way: the launcher imports the trainer, and nothing the trainer imports, even lazily inside
  a function, imports the launcher;
- the launcher run from a script: the script is not run again in the children, an exception in the children
  is raised in the parent, children that stop on a signal make the job exit with their code (143), and a
  SIGTERM to the parent reaches the children and ends the job with 143.

The tiny BERT has no dropout here: with dropout each process draws its own (see subnets.parallel).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from functools import partial
from pathlib import Path

import pytest
import torch
from test_resume import mlm_data  # noqa: F401 (a fixture)

from subnets import masks, parallel, resume
from subnets.imp import train_subnetwork
from subnets.parallel import _train_rank, batch_share, launch, share_bounds
from subnets.theta0 import build_task_model
from subnets.training import MaskedTrainer, Preempted, TrainingConfig

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def no_dropout_bert(tiny_bert_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("no_dropout") / "bert"
    shutil.copytree(tiny_bert_dir, path)
    config = json.loads((path / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (path / "config.json").write_text(json.dumps(config))
    return str(path)


def test_shares_are_contiguous_in_rank_order_and_cover_the_batch():
    for rows in (1, 2, 5, 11, 16):
        for world in (1, 2, 3):
            bounds = [share_bounds(rows, rank, world) for rank in range(world)]
            assert [i for start, stop in bounds for i in range(start, stop)] == list(range(rows))
            assert max(stop - start for start, stop in bounds) - min(stop - start for start, stop in bounds) <= 1
    assert share_bounds(11, 0, 2) == (0, 6) and share_bounds(11, 1, 2) == (6, 11)
    with pytest.raises(ValueError, match="rank 2"):
        share_bounds(4, 2, 2)


def test_share_weights_make_the_average_gradient_the_global_mean():
    # Token labels with -100 (NER, MLM): the global loss is the mean over the scored entries.
    labels = torch.tensor([[1, -100, 2], [-100, -100, 3], [4, 5, 6], [7, -100, -100], [8, 9, -100]])
    losses = torch.arange(15, dtype=torch.float64).reshape(5, 3)  # one loss per entry
    batch = {"labels": labels, "input_ids": torch.arange(15).reshape(5, 3)}
    global_mean = losses[labels != -100].mean()
    for world in (2, 3):
        averaged = 0.0
        for rank in range(world):
            share, weight = batch_share(batch, rank, world)
            start, _ = share_bounds(5, rank, world)
            assert torch.equal(share["input_ids"], batch["input_ids"][start : start + len(share["labels"])])
            scored = share["labels"] != -100
            mean = losses[start : start + len(share["labels"])][scored].mean()
            averaged += weight * mean / world  # DDP averages the gradients of weight * loss
        assert torch.isclose(averaged, global_mean)
    # Fewer rows than processes: the empty share trains on one row with weight 0.
    share, weight = batch_share({"labels": torch.tensor([2])}, 1, 2)
    assert weight == 0.0 and share["labels"].tolist() == [2]
    assert batch_share({"labels": torch.tensor([2])}, 0, 2)[1] == 2.0
    # Nothing to score in the whole batch: weight 1 everywhere, and a NaN loss, as in one process.
    assert batch_share({"labels": torch.full((3, 2), -100)}, 1, 2)[1] == 1.0


def _imported_modules(module: str) -> set[str]:
    """Every module that ``module``'s source imports, at the top or inside a function (``from a import b``: both
    ``a`` and ``a.b``)."""
    tree = ast.parse(Path(importlib.import_module(module).__file__).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_trainer_never_imports_the_launcher():
    assert "subnets.training" in _imported_modules("subnets.parallel")
    seen, todo = set(), ["subnets.training"]
    while todo:  # the trainer and every subnets module it imports, transitively
        module = todo.pop()
        seen.add(module)
        imported = {name for name in _imported_modules(module) if name.startswith("subnets.")}
        assert "subnets.parallel" not in imported, module
        todo.extend(name for name in imported - seen if _is_module(name))


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, AttributeError):  # a class or function of a module (``from a import B``)
        return False


def _assert_close_states(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    worst = max(float((a[n].double() - b[n].double()).abs().max()) for n in a)
    assert worst <= TOLERANCE, worst
    return worst


def _assert_same_run(one, two) -> None:
    assert [p["step"] for p in one.eval_curve] == [p["step"] for p in two.eval_curve]
    for a, b in zip(one.eval_curve, two.eval_curve, strict=True):
        assert b["metric"] == pytest.approx(a["metric"], rel=TOLERANCE, abs=TOLERANCE), (a, b)
    assert (one.peak_step, one.total_steps) == (two.peak_step, two.total_steps)
    _assert_close_states(one.peak_state, two.peak_state)
    _assert_close_states(one.final_state, two.final_state)


def _ner_args(model_dir, ner_data):
    task, tokenizer, data = ner_data
    # 96 rows in batches of 11: shares of 6 and 5 rows, and a last batch of 8 in each epoch.
    config = TrainingConfig(learning_rate=1e-3, batch_size=11, eval_batch_size=32, max_steps=10, eval_every=3)
    build = partial(build_task_model, model_dir, task, seed=0)
    mask = masks.random_mask(masks.prunable_shapes(build(), "bert"), 0.5, seed=1)
    return build, (task, tokenizer, data["train"], data["validation"], config, mask)


def _mlm_args(model_dir, mlm):
    task, tokenizer, data = mlm
    # 40 blocks in batches of 16: 3 steps per epoch, the last of 8 rows.
    config = TrainingConfig(learning_rate=1e-3, batch_size=16, eval_batch_size=32, max_steps=9, eval_every=4)
    build = partial(build_task_model, model_dir, task, seed=0)
    return build, (task, tokenizer, data["train"], data["validation"], config, None)


def _all_runs(ner, mlm, mlm_options: dict):
    """The body of each process in the one launch of these tests (starting processes is what takes time): the
    NER run; the MLM run, which a SIGTERM to process 1 alone during step 5 stops; the MLM run again, which
    continues from the state. Process 0 returns the NER result, the stop's exit code, the step of the state
    and the resumed MLM result."""
    build, args = ner
    ner_result = _train_rank(build, *args, progress=False)

    build, args = mlm
    original, code = MaskedTrainer._train_step, None

    def step(self, batch, done):
        if done + 1 == 5 and self.rank == 1:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, batch, done)

    MaskedTrainer._train_step = step
    try:
        _train_rank(build, *args, **mlm_options)
    except Preempted as stopped:
        code = stopped.code
    finally:
        MaskedTrainer._train_step = original
    state_step = resume.load_state(mlm_options["state_dir"])[1]["step"]
    return ner_result, code, state_step, _train_rank(build, *args, **mlm_options)


@pytest.fixture(scope="module")
def two_process_runs(no_dropout_bert, ner_data, mlm_data, tmp_path_factory):  # noqa: F811
    """What :func:`_all_runs` returns, and the MLM run's state directory."""
    state_dir = tmp_path_factory.mktemp("two_processes") / "resume"
    ner, mlm = _ner_args(no_dropout_bert, ner_data), _mlm_args(no_dropout_bert, mlm_data)
    options = {"progress": False, "state_dir": state_dir, "save_every": 3}
    return *launch(_all_runs, ner, mlm, options, processes=2), state_dir


def test_two_processes_train_what_one_process_trains(no_dropout_bert, ner_data, two_process_runs):
    build, args = _ner_args(no_dropout_bert, ner_data)
    mask = args[-1]
    one, two = MaskedTrainer(build(), *args, progress=False).train(), two_process_runs[0]

    _assert_same_run(one, two)
    for name, kept in mask.items():
        for state in (two.peak_state, two.final_state):
            assert (state[name][~kept] == 0).all(), name
    theta0 = build().state_dict()
    assert any(not torch.equal(two.final_state[n][mask[n]], theta0[n][mask[n]]) for n in mask)  # it trained
    next_masks = [masks.magnitude_prune(masks.prunable_parameters(r.peak_state, "bert"), mask, 0.1) for r in (one, two)]
    assert all(torch.equal(next_masks[0][n], next_masks[1][n]) for n in mask)


def test_a_sigterm_in_one_process_stops_both_and_a_rerun_continues(
    no_dropout_bert, mlm_data, two_process_runs  # noqa: F811 (the imported fixture)
):
    _, code, state_step, resumed, state_dir = two_process_runs
    assert code == 128 + signal.SIGTERM
    assert state_step == 5  # both processes stopped after step 5, when only process 1 got the signal
    assert resumed.resumed_from_step == 5
    build, args = _mlm_args(no_dropout_bert, mlm_data)
    _assert_same_run(MaskedTrainer(build(), *args, progress=False).train(), resumed)
    assert not state_dir.exists()


def test_train_subnetwork_hands_picklable_work_to_the_launcher(no_dropout_bert, ner_data, monkeypatch):
    """What spawn would send to the processes pickles; run here in one process, it trains what one process
    trains."""
    task, tokenizer, data = ner_data
    _, (*_, config, mask) = _ner_args(no_dropout_bert, ner_data)
    launched = []

    def in_process(fn, *args, processes, **kwargs):
        fn, args, kwargs = pickle.loads(pickle.dumps((fn, args, kwargs)))
        launched.append(processes)
        return fn(*args, **kwargs)

    monkeypatch.setattr(parallel, "launch", in_process)
    trainer, result, info = train_subnetwork(no_dropout_bert, task, tokenizer, data, config, mask, processes=2,
                                             progress=False)  # fmt: skip
    assert trainer is None and launched == [2]
    _, reference, reference_info = train_subnetwork(no_dropout_bert, task, tokenizer, data, config, mask,
                                                    progress=False)  # fmt: skip
    assert result.summary() == reference.summary() and info == reference_info


# A training job's script: the launcher must not run it again in its children (spawn would, unhidden).
SCRIPT = textwrap.dedent(
    """
    import sys, time
    from subnets.parallel import launch

    with open(sys.argv[1], "a") as runs:
        print("script body", file=runs)
    if sys.argv[2] == "pids":
        print(launch(__import__("os").getpid, processes=2))
    elif sys.argv[2] == "error":
        launch(int, "not a number", processes=2)
    elif sys.argv[2] == "stop":  # what the processes of a training stopped by a signal do
        launch(sys.exit, 143, processes=2)
    else:
        launch(time.sleep, 60, processes=2)
    """
)


def _script(tmp_path, mode: str) -> subprocess.Popen:
    path = tmp_path / "job.py"
    path.write_text(SCRIPT)
    return subprocess.Popen([sys.executable, str(path), str(tmp_path / "runs.txt"), mode], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def test_the_launcher_in_a_script(tmp_path):
    job = _script(tmp_path, "pids")
    out, err = job.communicate(timeout=60)
    assert job.returncode == 0, err
    assert int(out) != job.pid  # rank 0's return value
    assert (tmp_path / "runs.txt").read_text().splitlines() == ["script body"]

    job = _script(tmp_path, "error")
    _, err = job.communicate(timeout=60)
    assert job.returncode == 1
    assert "ValueError: invalid literal for int() with base 10: 'not a number'" in err
    assert re.search(r"raised in training process [01] of 2", err)  # the first to fail

    job = _script(tmp_path, "stop")
    job.communicate(timeout=60)
    assert job.returncode == 143


def test_a_sigterm_to_the_parent_reaches_the_children(tmp_path):
    import psutil

    def ranks() -> list[psutil.Process]:  # not multiprocessing's resource tracker
        return [p for p in psutil.Process(job.pid).children() if "spawn_main" in " ".join(p.cmdline())]

    job = _script(tmp_path, "sleep")
    deadline = time.monotonic() + 60
    while len(children := ranks()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(children) == 2
    job.send_signal(signal.SIGTERM)
    job.communicate(timeout=30)
    assert job.returncode == 128 + signal.SIGTERM
    assert not any(child.is_running() and child.status() != psutil.STATUS_ZOMBIE for child in children)
