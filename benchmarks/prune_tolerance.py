"""How much pruning of any kind a task of a finished toy study survives: random against one-shot magnitude masks.

For each (language, seed) of one task, in one process with the library's functions:

1. the dense run (:func:`subnets.imp.train_subnetwork` from theta0, no mask), as the workflow's IMP round 0;
2. per sparsity, a uniformly random mask (:func:`subnets.masks.random_mask`, drawn with the seed, as the workflow's
   ``random_mask`` rule) and a one-shot magnitude mask of the dense run's peak weights
   (:func:`subnets.masks.magnitude_prune`, the IMP rounds' pruning in one step), each trained from theta0 with the
   task's training config (its ``head_seed`` included).

The study's prepared data and theta0 are read from ``--study-dir`` (``resources/STUDY/data`` and ``models``).
Prints one JSON line per run and a last one with every F1 (or the task's metric) by kind and sparsity.

    python benchmarks/prune_tolerance.py --study-dir /tmp/x --config config/demo_decoder.yaml --task ner \\
        --languages t1 t8 --seeds 0 1 --sparsities 50 75 90 --threads 1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study-dir", required=True, type=Path, help="the directory the workflow ran in")
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--task", default="ner")
    parser.add_argument("--languages", nargs="+", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--sparsities", nargs="+", type=int, default=[50, 75, 90])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch
    import yaml
    from transformers import AutoTokenizer

    from subnets import masks
    from subnets.data import load_prepared
    from subnets.imp import train_subnetwork
    from subnets.tasks import get_task
    from subnets.theta0 import model_family
    from subnets.training import TrainingConfig

    torch.set_num_threads(args.threads)
    config = yaml.safe_load(args.config.read_text())
    resources = args.study_dir / "resources" / config["study"]
    model = str(resources / "models" / config["model"]["name"])
    family = model_family(model)
    tokenizer = AutoTokenizer.from_pretrained(model)
    spec = config["tasks"][args.task]
    task = get_task(args.task, family, **spec.get("options", {}))
    table: dict[str, float] = {}

    def run(lang, seed, kind, sparsity, data, training, mask=None):
        started = time.perf_counter()
        _, result, info = train_subnetwork(model, task, tokenizer, data, training, mask, progress=False)
        key = f"{lang}/seed{seed}/{kind}{sparsity}"
        table[key] = round(result.peak_metric, 2)
        print(json.dumps({"run": key, task.metric_name: table[key], "sparsity": round(info["sparsity"], 4),
                          "seconds": round(time.perf_counter() - started, 1)}), flush=True)  # fmt: skip
        return result, info

    for lang in args.languages:
        data = load_prepared(resources / "data" / args.task / lang)
        for seed in args.seeds:
            training = TrainingConfig.from_dict({**spec["training"], "seed": seed})
            dense, info = run(lang, seed, "dense", 0, data, training)
            peak = masks.prunable_parameters(dense.peak_state, info["family"])
            shapes = {name: tensor.shape for name, tensor in peak.items()}
            for s in args.sparsities:
                run(lang, seed, "random", s, data, training, masks.random_mask(shapes, s / 100, seed))
                run(lang, seed, "magnitude", s, data, training, masks.magnitude_prune(peak, None, s / 100))
    print(json.dumps({"table": table}))


if __name__ == "__main__":
    main()
