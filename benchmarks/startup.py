"""Start-up of a training job: from interpreter start to its first training step (issue 16 item 1), cold and warm.

Each workflow job is a Snakemake ``script:`` process. This runs the real workflow scripts
(workflow/scripts/imp_round.py and train_subnetwork.py) as Snakemake does: a temporary copy of the script behind a
preamble that unpickles a ``snakemake`` object (built from Snakemake's own classes), run by a fresh interpreter,
on a tiny BERT and a tiny prepared NER set (max_steps=1). A line inserted after the script's ``start()`` records
when the first training step begins: wall clock from before the process is spawned, and CPU time (user + sys) up
to that point, which the load of a shared machine disturbs less. Cold: the job runs in the spawned process
(``SUBNETS_WARM_START=0``). Warm: it runs in a child of the warm-start server (:mod:`subnets.warm`), whose start
is paid once, by a first job that is timed apart; CPU is then the client's (all of it) plus the child's up to
the first step. ``--importtime`` reruns each path cold with ``python -X importtime`` and lists the costliest
imports (cumulative, top-level packages and the subnets modules).

    python benchmarks/startup.py                      # 3 repeats of each path and mode, the median
    python benchmarks/startup.py --repeats 5 --importtime 12 --modes cold
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {"imp_round": ROOT / "workflow/scripts/imp_round.py",
           "train_subnetwork": ROOT / "workflow/scripts/train_subnetwork.py"}  # fmt: skip
WORDS = "the a of and is in on cat dog bird house city sees likes finds big small old new anna bob paris".split()
TRAINING = {"learning_rate": 1e-3, "batch_size": 8, "eval_batch_size": 16, "max_steps": 1, "eval_every": 1}
# What Snakemake sets for a one-thread job.
THREAD_ENV = {name: "1" for name in ("OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                     "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")}  # fmt: skip
# Runs in the process that runs the job, right after start(): records the first training step's begin.
RECORDER = """
import json as _json, os as _os, resource as _resource, sys as _sys, time as _time
import subnets.training as _training
_step, _seen = _training.MaskedTrainer._train_step, []
def _first_step(self, batch, step):
    if not _seen:
        _seen.append(1)
        _usage = _resource.getrusage(_resource.RUSAGE_SELF)
        _loaded = {{name: name in _sys.modules for name in ("datasets", "accelerate", "torch._dynamo",
                                                            "torch.distributed.tensor", "pandas", "sklearn")}}
        with open({record!r}, "w") as _file:
            _json.dump({{"first_step": _time.time(), "cpu": _usage.ru_utime + _usage.ru_stime, "pid": _os.getpid(),
                        "ppid": _os.getppid(), "loaded": _loaded}}, _file)
    return _step(self, batch, step)
_training.MaskedTrainer._train_step = _first_step
"""


def snakemake_script(spec: dict, path: Path) -> Path:
    """Write ``spec``'s workflow script as Snakemake 9 runs it (preamble, then the source) plus the recorder."""
    from snakemake.iocontainers import InputFiles, Log, OutputFiles, Params, ResourceList, Snakemake, Wildcards

    script = Path(spec["script"])
    smk = Snakemake(InputFiles(fromdict=spec["input"]), OutputFiles(fromdict=spec["output"]),
                    Params(fromdict=spec["params"]), Wildcards(fromdict=spec["wildcards"]), 1,
                    ResourceList(fromdict={"_cores": 1, "gpu": 0}), Log(toclone=[spec["log"]]),
                    {"resources": {"save_every": 500}}, path.stem, 0, str(script.parent))  # fmt: skip
    preamble = (f"import sys; import pickle; snakemake = pickle.loads({pickle.dumps(smk, protocol=4)!r}); "
                f"__real_file__ = __file__; __file__ = {str(script)!r};\n")  # fmt: skip
    lines = script.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if "start(snakemake" in line) + 1
    path.write_text(preamble + "".join(lines[:at]) + RECORDER.format(record=spec["record"]) + "".join(lines[at:]))
    return path


# ----------------------------------------------------------------------------------------------- parent


def _setup(work: Path) -> tuple[Path, Path]:
    """A tiny BERT (2 layers, hidden 32) and a prepared NER set (64 + 16 sentences) for it."""
    import random

    import datasets
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    from subnets.data import prepare_dataset
    from subnets.toy.tokenizer import wordpiece_tokenizer

    model = work / "model"
    tokenizer = wordpiece_tokenizer(WORDS + ["##s"])
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id)  # fmt: skip
    torch.manual_seed(0)
    BertForMaskedLM(config).save_pretrained(model)
    tokenizer.save_pretrained(model)
    rng = random.Random(0)

    def rows(n):
        tokens = [[rng.choice(WORDS) for _ in range(rng.randint(3, 8))] for _ in range(n)]
        return {"tokens": tokens, "ner_tags": [[1 if w in ("anna", "bob") else 0 for w in s] for s in tokens]}

    raw = datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows(64)),
                                "validation": datasets.Dataset.from_dict(rows(16))})  # fmt: skip
    data = prepare_dataset(raw, "ner", AutoTokenizer.from_pretrained(model), work / "data", n_train=64, n_eval=16,
                           max_length=32, seed=0, source="benchmark")  # fmt: skip
    return model, Path(data)


def _spec(path: str, work: Path, model: Path, data: Path, n: int) -> dict:
    out = work / f"{path}{n}"
    common = {"training": TRAINING, "options": {}}
    if path == "imp_round":
        return {"script": str(SCRIPTS[path]), "log": str(out / "log"), "input": {"model": str(model), "data": str(data)},
                "output": {"metrics": str(out / "metrics.json"), "ticket": str(out / "ticket.safetensors")},
                "params": {**common, "sparsity": 0, "prune_percent": 10, "prune_from": "best"},
                "wildcards": {"task": "ner", "lang": "aa", "seed": "0"}}  # fmt: skip
    return {"script": str(SCRIPTS[path]), "log": str(out / "log"),
            "input": {"model": str(model), "data": str(data), "mask": str(work / "imp_round0" / "ticket.safetensors")},
            "output": {"metrics": str(out / "metrics.json")}, "params": common,
            "wildcards": {"task": "ner", "lang": "bb", "seed": "0", "source": "aa", "sparsity": "10"}}  # fmt: skip


def run_job(path: str, work: Path, model: Path, data: Path, n: int, warm: bool, importtime: bool = False,
            training: dict | None = None) -> dict:
    """Run one job cold or warm (its server's files in ``work``/warm); its timings, record and outputs' paths."""
    spec = _spec(path, work, model, data, n)
    if training is not None:
        spec["params"]["training"] = training
    Path(spec["log"]).parent.mkdir(parents=True, exist_ok=True)
    spec["record"] = str(work / f"record-{path}{n}.json")
    script = snakemake_script(spec, work / f"tmp{n}.{path}.py")
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), str(script)]
    env = {**os.environ, **THREAD_ENV, "TOKENIZERS_PARALLELISM": "false", "SUBNETS_WARM_DIR": str(work / "warm"),
           "SUBNETS_WARM_START": "1" if warm else "0"}  # fmt: skip
    started = time.time()
    process = subprocess.Popen(command, cwd=work, env=env, stderr=subprocess.PIPE, text=True)
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    ended = time.time()
    log = Path(spec["log"]).read_text() if Path(spec["log"]).exists() else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{path} failed:\n{stderr[-3000:]}\n{log[-3000:]}")
    record = json.loads(Path(spec["record"]).read_text())
    client_cpu = usage.ru_utime + usage.ru_stime
    in_child = record["pid"] != process.pid
    if in_child != warm:
        servers = "".join(path.read_text() for path in (work / "warm").glob("*.log"))
        raise RuntimeError(f"warm={warm} but the job ran {'in a child' if in_child else 'in the client'}:\n{log}\n{servers}")
    result = {"first_step_s": record["first_step"] - started, "whole_job_s": ended - started,
              "cpu_s": record["cpu"] + (client_cpu if in_child else 0), "client_cpu_s": client_cpu,
              "loaded": record["loaded"], "server": record["ppid"] if in_child else None, "outputs": spec["output"],
              "log": log}  # fmt: skip
    if importtime:
        result["imports"] = stderr + log
    return result


def stop_server(pid: int | None) -> None:
    if pid:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def top_imports(text: str, n: int) -> list[tuple[str, float]]:
    """The costliest imports by cumulative time: top-level packages (nesting 0) and subnets modules."""
    rows = []
    for line in text.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            rows.append((match.group(4), int(match.group(2)) / 1e6, len(match.group(3)) - 1))
    top = [(name, cum) for name, cum, depth in rows if depth == 0 or name.startswith("subnets.")]
    return sorted(top, key=lambda r: -r[1])[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", default="cold,warm", help="cold, warm or both (comma-separated)")
    parser.add_argument("--importtime", type=int, default=0, help="list this many costliest imports per path (cold)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    results, server = {}, None
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model, data = _setup(work)
        try:
            for mode in args.modes.split(","):
                warm, n = mode == "warm", 0
                if warm:  # the server's start, paid by the first job
                    first = run_job("imp_round", work, model, data, 100, warm=True)
                    server = first["server"]
                    results["warm_server_start"] = {"first_job_first_step_s": round(first["first_step_s"], 2),
                                                    "first_job_s": round(first["whole_job_s"], 2)}  # fmt: skip
                    print(f"warm: first job (starts the server): first step after {first['first_step_s']:.2f} s, "
                          f"job {first['whole_job_s']:.2f} s")  # fmt: skip
                for path in SCRIPTS:
                    runs = []
                    for _ in range(args.repeats):
                        runs.append(run_job(path, work, model, data, n, warm=warm))
                        n += 1
                    name = f"{path} ({mode})"
                    keys = ("first_step_s", "cpu_s", "whole_job_s", "client_cpu_s")
                    results[name] = {key: round(statistics.median(r[key] for r in runs), 3) for key in keys}
                    results[name]["all_first_step_s"] = [round(r["first_step_s"], 2) for r in runs]
                    results[name]["loaded_at_first_step"] = [k for k, v in runs[0]["loaded"].items() if v]
                    row = results[name]
                    print(f"{name}: interpreter start -> first step {row['first_step_s']:.2f} s wall "
                          f"(runs {row['all_first_step_s']}), {row['cpu_s']:.2f} s CPU to it (the spawned process's CPU over the "
                          f"whole job: {row['client_cpu_s']:.2f} s); "
                          f"whole job {row['whole_job_s']:.2f} s; loaded at the first step: "
                          f"{', '.join(row['loaded_at_first_step']) or 'none of the heavy ones'}")  # fmt: skip
                    if args.importtime and not warm:
                        traced = run_job(path, work, model, data, n, warm=False, importtime=True)
                        n += 1
                        top = top_imports(traced["imports"], args.importtime)
                        results[name]["top_imports"] = top
                        print("  costliest imports (cumulative s): " + ", ".join(f"{m} {s:.2f}" for m, s in top))
        finally:
            stop_server(server)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with open(os.devnull if not args.json else args.json, "w") as handle:
        json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
