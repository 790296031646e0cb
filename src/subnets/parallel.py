"""Data-parallel training: a training job that has N > 1 GPUs trains in N processes, one per device (DDP).

A training job is one Snakemake ``script:`` process. It claims its GPUs (:mod:`subnets.devices`), prepares its
inputs, and then :func:`train_data_parallel` starts N fresh Python processes (multiprocessing's *spawn* start
method), one per device: each builds theta0 itself, and :class:`subnets.training.MaskedTrainer` runs there with
accelerate's ``Accelerator``, which sees ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` and wraps the model in
``DistributedDataParallel`` (NCCL on GPUs; gloo when run on CPU, which is how the tests exercise the path).
The parent waits, keeps the GPU locks of the job, and returns the result of rank 0.

Why this launcher rather than the alternatives:

- *spawn*, not fork (``accelerate.notebook_launcher`` forks on Linux): a child forked after the parent imported
  torch, or touched CUDA, inherits threads and driver state that do not survive a fork. Spawned children are
  clean interpreters that inherit only the environment (the narrowed ``CUDA_VISIBLE_DEVICES`` included).
- no ``accelerate launch`` / ``torchrun`` shell rule: the rules keep their ``script:`` (inputs, params and logs
  stay as they are, and a job on one GPU or on CPU does not change at all), and the parent can hold the
  device locks, forward SIGTERM and turn a failure in any rank into one error.
- the Snakemake script is never run again in the children: spawn would re-import the parent's ``__main__`` (the
  script, which would claim GPUs and train again); :func:`launch` hides it while it starts the processes, so
  the function it runs must live in an importable module.

What makes N processes train exactly what one process trains (beyond the order of floating-point sums):
every rank collates the whole global batch of ``config.batch_size`` rows in the order of
:class:`subnets.training.EpochBatches` (so the collator's random draws, MLM masking, are the same on every rank
and the same as in one process) and trains on its contiguous share of the rows
(:func:`subnets.sharding.batch_share`), its loss weighted so that DDP's average of the gradients equals the
gradient of the global batch's mean loss. The mask is applied on every rank, and gradients are masked after
DDP's all-reduce. Rank 0 alone evaluates (on the whole evaluation set, so the metric is the one-process metric),
keeps the peak, writes the resume state and returns the result. Dropout is the exception: each rank draws its
dropout from a stream of its own (derived from seed, step and rank), so with dropout > 0 an N-process run is a
run as good as, but not equal to, a one-process run.

Resume and signals: every rank restores the same resume state. At each step boundary the ranks agree (an
all-reduce of the largest signal number received) whether to stop, so a SIGTERM that reaches one process, or
only the parent (which forwards it), stops all of them after the same step; rank 0 writes the state and the job
exits with 128 + the signal number, as a one-process job does. While rank 0 evaluates or writes, the others wait
in the next collective (``training.COLLECTIVE_TIMEOUT``). A rank that fails gets the others killed and its
exception raised in the parent; the children die with the parent (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import socket
import sys
import tempfile
import traceback
from multiprocessing import connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from subnets.sharding import batch_share, share_bounds  # noqa: F401 (this module's public names too)
from subnets.signals import sigterms_caught
from subnets.training import MaskedTrainer, Preempted

if TYPE_CHECKING:
    import datasets
    import torch

    from subnets.tasks.base import Task
    from subnets.training import TrainingConfig, TrainResult

_RESULT = "result.pickle"
_ERROR = "error-{rank}.pickle"


# ------------------------------------------------------------------------------------------- the launcher


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _log_path() -> str | None:
    """The file this process's ``sys.stderr`` writes to (a job's log), if it is a regular file."""
    name = getattr(sys.stderr, "name", None)
    return name if isinstance(name, str) and os.path.isfile(name) else None


@contextlib.contextmanager
def _main_hidden() -> Iterator[None]:
    """Keep spawn from re-running the parent's ``__main__`` (a Snakemake script) in the children."""
    main = sys.modules["__main__"]
    saved = {key: main.__dict__.pop(key) for key in ("__file__", "__spec__") if key in main.__dict__}
    main.__spec__ = None  # spawn reads main.__spec__ (a module run with -m) and main.__file__ (a script)
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


@contextlib.contextmanager
def _forwarded_sigterm(processes: list) -> Iterator[list[int]]:
    """While the children run, a SIGTERM to the parent (a scheduler stopping the job) goes on to each child,
    which saves its state at the next step; the parent then exits as they do. Main thread only."""

    def forward(signum: int) -> None:
        for process in processes:
            if process.pid is not None and process.exitcode is None:
                os.kill(process.pid, signum)

    with sigterms_caught(forward) as received:
        yield received


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent dies (killed for memory, say): no orphan goes on training."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _run_rank(rank: int, env: dict[str, str], log: str | None, outbox: str, fn, args, kwargs) -> None:
    """The body of one spawned process: join the group, run ``fn``; rank 0 leaves its return value in
    ``outbox``, a failing rank its exception. Ends with ``os._exit``: the interpreter's shutdown (seconds with
    torch loaded) has nothing left to do once the result is written."""
    _die_with_parent()
    os.environ.update(env)
    if log is not None:  # the job's log, also for what C++ (NCCL, gloo) writes to file descriptor 2
        stream = open(log, "a", buffering=1)  # noqa: SIM115 (this process's stderr until it ends)
        os.dup2(stream.fileno(), 2)
        sys.stderr = stream
    code = 0
    try:
        result = fn(*args, **kwargs)
        if rank == 0:
            tmp = Path(outbox, _RESULT + ".tmp")
            with open(tmp, "wb") as handle:
                pickle.dump(result, handle, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.rename(Path(outbox, _RESULT))
        _leave_group()
    except SystemExit as stop:  # a stop signal: the state is saved, every rank exits with the same code
        code = stop.code if isinstance(stop.code, int) else 1
        _leave_group()
    except BaseException as error:
        code = 1
        print(f"training process {rank} failed:\n{traceback.format_exc()}", file=sys.stderr)
        try:
            payload = pickle.dumps(error)
        except Exception:  # an exception that does not pickle: its text
            payload = pickle.dumps(RuntimeError(f"{type(error).__name__}: {error}"))
        Path(outbox, _ERROR.format(rank=rank)).write_bytes(payload)
    finally:
        with contextlib.suppress(Exception):
            from multiprocessing import util

            util._exit_function()  # multiprocessing's own clean-up (the semaphore of tqdm's lock)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _leave_group() -> None:
    if "torch.distributed" in sys.modules:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def _wait(processes: list) -> list[int]:
    """Wait until every process has ended; return their indices in the order they ended. Once one fails (an
    error or a kill, not a stop signal it was asked to stop on), the others would wait for it forever in a
    collective: they are killed."""
    running, ended = list(processes), []
    while running:
        connection.wait([p.sentinel for p in running])
        for process in [p for p in running if p.exitcode is not None]:
            running.remove(process)
            ended.append(processes.index(process))
            if process.exitcode != 0 and not process.exitcode > 128:
                for other in running:
                    other.kill()
    return ended


def launch(fn: Callable[..., Any], *args, processes: int, **kwargs) -> Any:
    """Run ``fn(*args, **kwargs)`` in ``processes`` spawned processes of one process group (``RANK``,
    ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT`` set for accelerate / torch.distributed) and
    return what rank 0 returned. With one process, just call it here.

    ``fn`` must be importable (a module-level function, not one of a script) and its arguments picklable. The
    children write to this process's log; CPU threads are shared among them (``OMP_NUM_THREADS``). A rank that
    raises makes this raise the same exception (the others are killed); when the ranks stop on a signal
    (:class:`subnets.training.Preempted`, exit code 128 + n) this process exits with the same code, as it does
    after a SIGTERM of its own, which it forwards to the children.
    """
    if processes < 2:
        return fn(*args, **kwargs)
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    threads = max(1, _threads() // processes)
    port, log = _free_port(), _log_path()
    common = {"WORLD_SIZE": str(processes), "LOCAL_WORLD_SIZE": str(processes), "MASTER_ADDR": "127.0.0.1",
              "MASTER_PORT": str(port), "OMP_NUM_THREADS": str(threads)}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="subnets-ddp-") as outbox:
        children = [
            context.Process(
                target=_run_rank,
                args=(rank, {**common, "RANK": str(rank), "LOCAL_RANK": str(rank)}, log, outbox, fn, args, kwargs),
                name=f"training process {rank}",
            )
            for rank in range(processes)
        ]
        sys.stderr.flush()
        try:
            with _forwarded_sigterm(children) as received:
                with _main_hidden():
                    for child in children:
                        child.start()
                if received:  # a SIGTERM that came while they started
                    for child in children:
                        os.kill(child.pid, received[0])
                ended = _wait(children)
        finally:
            for child in children:
                if child.exitcode is None and child.pid is not None:
                    child.kill()
                    child.join()
            if log is not None:
                sys.stderr.seek(0, os.SEEK_END)  # after what the children appended
        return _outcome(children, ended, Path(outbox), received)


def _threads() -> int:
    if "torch" in sys.modules:
        import torch

        return torch.get_num_threads()
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _outcome(children: list, ended: list[int], outbox: Path, received: list[int]) -> Any:
    codes = [child.exitcode for child in children]
    if all(code == 0 for code in codes):
        with open(outbox / _RESULT, "rb") as handle:
            return pickle.load(handle)
    for rank in ended:  # the first to fail is the cause; the others may have failed from losing it
        error_file = outbox / _ERROR.format(rank=rank)
        if error_file.exists():
            error = pickle.loads(error_file.read_bytes())
            if hasattr(error, "add_note"):
                error.add_note(f"(raised in training process {rank} of {len(children)}; its traceback is in the log)")
            raise error
    stopped = [code for code in codes if code is not None and code > 128]
    if stopped or received:
        raise Preempted(stopped[0] if stopped else 128 + received[0])
    failed = next(rank for rank in ended if codes[rank] != 0)
    raise ChildProcessError(
        f"training process {failed} of {len(children)} ended with exit code {codes[failed]}"
        + (f" (killed by signal {-codes[failed]})" if codes[failed] < 0 else "")
    )


# ---------------------------------------------------------------------------------------- training in N ranks


def _train_rank(build_model: Callable[[], Any], *args, **kwargs) -> "TrainResult | None":
    """One rank: build theta0 here (each rank its own copy) and train it; rank 0 returns the result."""
    return MaskedTrainer(build_model(), *args, **kwargs).train()


def train_data_parallel(
    build_model: Callable[[], Any],
    task: "Task",
    tokenizer,
    train_set: "datasets.Dataset",
    eval_set: "datasets.Dataset",
    config: "TrainingConfig",
    mask: dict[str, "torch.Tensor"] | None = None,
    *,
    processes: int,
    **trainer_kwargs,
) -> "TrainResult":
    """Train theta0 * ``mask`` in ``processes`` data-parallel processes (one when ``processes`` is 1) and return
    rank 0's :class:`~subnets.training.TrainResult`, equal to a one-process run's but for floating-point sums
    (and dropout, see the module's docstring).

    ``build_model`` is a picklable callable that builds theta0 (``functools.partial(build_task_model, ...)``):
    each process builds its own. ``trainer_kwargs`` go to :class:`~subnets.training.MaskedTrainer`.
    """
    return launch(
        _train_rank, build_model, task, tokenizer, train_set, eval_set, config, mask, processes=processes,
        **trainer_kwargs,
    )  # fmt: skip
