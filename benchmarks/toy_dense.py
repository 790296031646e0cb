"""Dense fine-tuning of a pre-trained toy model with a demo config's task settings: how much each task learns
from theta0 before any pruning (the "dense" row of the demo's tables), per language and seed.

    python benchmarks/toy_dense.py --config config/demo_decoder.yaml --world W --model M [--tasks nli ner]
                                   [--languages t0 t1] [--seeds 0 1] [--threads 1] [--out DIR]

``--world`` is the toy world the model was pre-trained on (``subnets-toy world``) and ``--model`` the model
(``subnets-toy pretrain --family ...``); each (task, language) is prepared as the workflow's ``prepare_data``
does, with the config's ``data`` settings, and trained as ``imp_round`` trains round 0 (no mask). Prints one JSON
line per run (task, language, seed, peak metric, seconds) and a last one with the means per task and language.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import yaml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--world", required=True, type=Path)
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--tasks", nargs="+", default=None, help="default: every enabled task of the config")
    parser.add_argument("--languages", nargs="+", default=None, help="default: each task's languages")
    parser.add_argument("--seeds", nargs="+", type=int, default=None, help="default: the config's seeds")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/toy_dense"))
    args = parser.parse_args()

    import torch
    from transformers import AutoTokenizer

    from subnets.data import load_prepared, load_raw, prepare_dataset
    from subnets.tasks import get_task
    from subnets.theta0 import build_task_model, model_family
    from subnets.training import TrainingConfig, train_masked

    torch.set_num_threads(args.threads)
    config = yaml.safe_load(Path(args.config).read_text())
    family = model_family(args.model)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    tasks = args.tasks or [name for name, spec in config["tasks"].items() if spec.get("enabled", True)]
    peaks: dict[tuple[str, str], list[float]] = {}
    for name in tasks:
        spec = config["tasks"][name]
        task = get_task(name, family, **spec.get("options", {}))
        data = spec["data"]
        for lang in args.languages or spec["languages"]:
            raw = load_raw(task, str(args.world / name / "{lang}"), lang)
            prepared = args.out / "data" / family / name / lang
            if not prepared.exists():
                prepare_dataset(raw, task, tokenizer, prepared, n_train=data["n_train"], n_eval=data["n_eval"],
                                max_length=data.get("max_length", 128), seed=data.get("seed", 0))  # fmt: skip
            rows = load_prepared(prepared)
            for seed in args.seeds if args.seeds is not None else config["seeds"]:
                started = time.perf_counter()
                model = build_task_model(args.model, task, seed)
                training = TrainingConfig.from_dict({**spec["training"], "seed": seed})
                result = train_masked(model, task, tokenizer, rows["train"], rows["validation"], training,
                                      progress=False)  # fmt: skip
                peaks.setdefault((name, lang), []).append(result.peak_metric)
                print(json.dumps({"task": name, "language": lang, "seed": seed, "family": family,
                                  task.metric_name: round(result.peak_metric, 2), "peak_step": result.peak_step,
                                  "seconds": round(time.perf_counter() - started, 1)}), flush=True)  # fmt: skip
    print(json.dumps({"means": {f"{t}/{lang}": round(statistics.mean(v), 2) for (t, lang), v in peaks.items()}}))


if __name__ == "__main__":
    main()
