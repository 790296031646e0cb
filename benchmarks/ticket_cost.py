"""How cheap can a ticket get: settings of the cheap ticket methods (subnets.methods) on a finished study, each
mask retrained from theta0 as the workflow's ticket_methods jobs retrain it, against the study's IMP ticket.

    python benchmarks/ticket_cost.py --study-dir DIR --config config/demo.yaml --task ner \\
        --languages t0 t1 t2 --variant early_bird:interval=5,threshold=0.1,patience=1 --variant wanda:groups=row

``DIR`` holds a finished run of the config's study (resources/<study>/models, resources/<study>/data,
results/<study>/tickets and imp). Each ``--variant`` is ``method:key=value,...`` (the method's ``mask_methods``
options; the method ``magnitude`` is theta0's own global magnitude mask, no training, the zero-cost floor). Prints
one JSON line per (variant, language): the retrained metric, IMP's ticket's retrained metric, the dense band,
Jaccard to IMP's mask, the mask's cost and IMP's, and whether the ticket is within one dense standard deviation
of IMP's.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import yaml


def parse_variant(text: str) -> tuple[str, dict]:
    method, _, settings = text.partition(":")
    options = dict(item.split("=", 1) for item in settings.split(",") if item)
    return method, {key: yaml.safe_load(value) for key, value in options.items()}  # numbers as numbers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study-dir", required=True, type=Path)
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--task", default="ner")
    parser.add_argument("--languages", nargs="+", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sparsity", type=int, default=50)
    parser.add_argument("--variant", action="append", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--imp-percent", type=int, default=None,
                        help="compare with an IMP chain run here at this p (percent of the original weights per "
                             "round) instead of the study's tickets")  # fmt: skip
    args = parser.parse_args()

    import torch
    from transformers import AutoTokenizer

    from subnets.costs import Cost
    from subnets.data import load_prepared
    from subnets.imp import round_prune_fraction, run_imp_round, train_subnetwork
    from subnets.masks import jaccard_of_packed, load_mask, magnitude_prune, pack_by_layer, prunable_parameters
    from subnets.methods import method_mask
    from subnets.tasks import get_task
    from subnets.theta0 import build_task_model, model_family
    from subnets.training import TrainingConfig

    torch.set_num_threads(args.threads)
    config = yaml.safe_load(args.config.read_text())
    spec = config["tasks"][args.task]
    study = config["study"]
    resources, results = args.study_dir / "resources" / study, args.study_dir / "results" / study
    model_dir = str(resources / "models" / config["model"]["name"])
    task = get_task(args.task, model_family(model_dir), **spec.get("options", {}))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    training = TrainingConfig.from_dict({**spec["training"], "seed": args.seed})
    for lang in args.languages:
        data = load_prepared(resources / "data" / args.task / lang)
        dense = [json.loads(path.read_text())["peak_metric"]
                 for path in (results / "imp" / args.task / lang).glob("seed*/sparsity00/metrics.json")]  # fmt: skip
        if args.imp_percent is None:
            imp_mask, imp_meta = load_mask(results / "tickets" / args.task / lang / f"seed{args.seed}"
                                           / f"sparsity{args.sparsity}.safetensors")  # fmt: skip
            imp_cost = imp_meta["cost_from_theta0"]["flops"]
            imp_run = results / "imp" / args.task / lang / f"seed{args.seed}" / f"sparsity{args.sparsity:02d}"
            imp_metric = json.loads((imp_run / "metrics.json").read_text())["peak_metric"]  # IMP's last round
        else:
            imp_mask, imp_cost, level = None, 0.0, 0
            while True:  # rounds at 0, p, 2p, ... each training theta0 * the mask of the round before
                round_ = run_imp_round(model_dir, task, tokenizer, data, training, imp_mask, progress=False,
                                       prune_fraction=round_prune_fraction(imp_mask, args.imp_percent))  # fmt: skip
                if level == args.sparsity:
                    imp_metric = round_.metrics["peak_metric"]
                    break
                imp_cost += round_.metrics["cost"]["flops"]
                imp_mask, level = round_.next_mask, level + args.imp_percent
                print(json.dumps({"imp_round": level - args.imp_percent, "language": lang,
                                  "metric": round(round_.metrics["peak_metric"], 2)}), flush=True)  # fmt: skip
        for variant in args.variant:
            method, options = parse_variant(variant)
            if method == "magnitude":
                theta0 = build_task_model(model_dir, task, seed=training.theta0_seed)
                mask = magnitude_prune(dict(prunable_parameters(theta0)), None, args.sparsity / 100)
                cost, details = Cost().to_dict(), {}
            else:
                mask, provenance = method_mask(method, model_dir, task, tokenizer, data, training, language=lang,
                                               sparsity=args.sparsity, options=options)  # fmt: skip
                cost, details = provenance.cost_from_theta0, provenance.details
            _, result, _ = train_subnetwork(model_dir, task, tokenizer, data, training, mask, progress=False)
            jaccard = jaccard_of_packed([pack_by_layer(mask), pack_by_layer(imp_mask)])
            std = statistics.stdev(dense) if len(dense) > 1 else float("nan")
            print(json.dumps({
                "variant": variant, "language": lang, "metric": round(result.peak_metric, 2),
                "imp_metric": round(imp_metric, 2), "dense_mean": round(statistics.mean(dense), 2),
                "dense_std": round(std, 3), "within_one_std_of_imp": result.peak_metric >= imp_metric - std,
                "jaccard_to_imp": round(jaccard["all"], 4), "cost_flops": cost["flops"], "imp_cost_flops": imp_cost,
                "cost_ratio": round(imp_cost / cost["flops"], 2) if cost["flops"] else None,
                "stopped_at_step": details.get("stopped_at_step"),
            }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
