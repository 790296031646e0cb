"""Start-up of a training job: from interpreter start to its first training step (issue 16 item 1).

Each workflow job is a fresh Python process. This runs the real workflow scripts (workflow/scripts/imp_round.py
and train_subnetwork.py) in a fresh interpreter, with a stand-in for the ``snakemake`` object Snakemake injects,
on a tiny BERT and a tiny prepared NER set (max_steps=1), and records when the first training step begins: wall
clock from before the process is spawned, and the process's CPU time (user + sys) at that point, which the
load of a shared machine disturbs less. ``--importtime`` reruns each with ``python -X importtime`` and lists the
costliest imports (cumulative, top-level packages and the subnets modules).

    python benchmarks/startup.py                      # 3 repeats of each path, the median
    python benchmarks/startup.py --repeats 5 --importtime 12
"""

from __future__ import annotations

import argparse
import json
import os
import re
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

# ------------------------------------------------------------------------------------------------ child


class Namedlist(list):
    """Snakemake's io.Namedlist, as far as the scripts use it: a list whose items also have names."""

    def __init__(self, items=(), **named):
        super().__init__([*items, *named.values()])
        self.__dict__.update(named)

    def get(self, key, default=None):
        return self.__dict__.get(key, default)


def _child(spec_path: str) -> None:
    """Run one workflow script with a stand-in ``snakemake``; record the first training step's begin."""
    import resource
    import runpy
    from types import SimpleNamespace

    spec = json.loads(Path(spec_path).read_text())
    import subnets.training as training  # light: resume, signals, sharding (no torch at import)

    original, seen = training.MaskedTrainer._train_step, []

    def first_step(self, batch, step):
        if not seen:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            seen.append(1)
            mods = sys.modules
            Path(spec["record"]).write_text(json.dumps({
                "first_step": time.time(), "cpu": usage.ru_utime + usage.ru_stime,
                "loaded": {name: name in mods for name in ("datasets", "accelerate", "torch._dynamo",
                                                           "torch.distributed.tensor", "pandas", "sklearn")},
            }))  # fmt: skip
        return original(self, batch, step)

    training.MaskedTrainer._train_step = first_step
    smk = SimpleNamespace(
        input=Namedlist(**spec["input"]), output=Namedlist(**spec["output"]), log=Namedlist([spec["log"]]),
        params=Namedlist(**spec["params"]), wildcards=Namedlist(**spec["wildcards"]), threads=1,
        resources=Namedlist(gpu=0), config={"resources": {"save_every": 500}},
    )  # fmt: skip
    runpy.run_path(spec["script"], init_globals={"snakemake": smk}, run_name="__main__")


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


def _run(path: str, work: Path, model: Path, data: Path, n: int, importtime: bool = False) -> dict:
    spec = _spec(path, work, model, data, n)
    Path(spec["log"]).parent.mkdir(parents=True, exist_ok=True)
    spec["record"] = str(work / f"record-{path}{n}.json")
    spec_file = work / f"spec-{path}{n}.json"
    spec_file.write_text(json.dumps(spec))
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), __file__, "--child", str(spec_file)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    started = time.time()
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
    ended = time.time()
    if done.returncode != 0:
        raise RuntimeError(f"{path} failed:\n{done.stderr[-3000:]}\n{Path(spec['log']).read_text()[-3000:]}")
    record = json.loads(Path(spec["record"]).read_text())
    result = {"first_step_s": record["first_step"] - started, "cpu_s": record["cpu"], "whole_job_s": ended - started,
              "loaded": record["loaded"]}  # fmt: skip
    if importtime:
        result["imports"] = done.stderr + Path(spec["log"]).read_text()
    return result


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
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--importtime", type=int, default=0, help="list this many costliest imports per path")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model, data = _setup(work)
        for path in SCRIPTS:
            runs = [_run(path, work, model, data, n) for n in range(args.repeats)]
            results[path] = {key: statistics.median(r[key] for r in runs) for key in ("first_step_s", "cpu_s", "whole_job_s")}
            results[path]["all_first_step_s"] = [round(r["first_step_s"], 2) for r in runs]
            results[path]["loaded_at_first_step"] = [k for k, v in runs[0]["loaded"].items() if v]
            print(f"{path}: interpreter start -> first step {results[path]['first_step_s']:.2f} s wall "
                  f"(runs {results[path]['all_first_step_s']}), {results[path]['cpu_s']:.2f} s CPU; whole job "
                  f"{results[path]['whole_job_s']:.2f} s; loaded at the first step: "
                  f"{', '.join(results[path]['loaded_at_first_step']) or 'none of the heavy ones'}")  # fmt: skip
            if args.importtime:
                traced = _run(path, work, model, data, args.repeats, importtime=True)
                top = top_imports(traced["imports"], args.importtime)
                results[path]["top_imports"] = top
                print("  costliest imports (cumulative s): " + ", ".join(f"{name} {s:.2f}" for name, s in top))
    with open(os.devnull if not args.json else args.json, "w") as handle:
        json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
