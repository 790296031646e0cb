"""Which fine-tuning knob governs the seed-versus-language effect on mask overlap (issue 13, the calibrated phantom).

For one task of a prepared toy study, runs IMP chains (the library's ``run_imp_round``, in this process) for
every language and seed under one training regime, up to the overlap sparsity, and measures the whole-model
Jaccard of the final masks:

- ``bound``: the same language, two seeds (the paper's upper bound), per language;
- ``clone``: the pivot against its clone, two different seeds (must be indistinguishable from the bound);
- ``cross``: two distinct languages, two different seeds, per language pair.

The study's prepared data and theta0 are read from ``--study-dir`` (run the workflow's ``prepare_data`` targets
first); the regime overrides the task's training config (``--set learning_rate=3e-4 max_steps=90``).

    python benchmarks/phantom_regime.py --study-dir /tmp/regime/repo --study regime --config config/regime.yaml \\
        --task ner --languages t0 t8 t1 t2 --seeds 0 1 2 --set max_steps=90 --threads 2 --out benchmarks/out/r.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from pathlib import Path


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def chains(args, overrides: dict) -> tuple[dict[tuple[str, int], dict], dict[tuple[str, int], list[float]]]:
    """The final mask of every (language, seed) chain, and each round's peak metric."""
    import torch
    import yaml
    from transformers import AutoTokenizer

    from subnets.data import load_prepared
    from subnets.imp import round_prune_fraction, run_imp_round
    from subnets.tasks import get_task
    from subnets.training import TrainingConfig

    torch.set_num_threads(args.threads)
    config = yaml.safe_load((args.study_dir / args.config).read_text())
    resources = args.study_dir / "resources" / args.study
    model = str(resources / "models" / config["model"]["name"])
    tokenizer = AutoTokenizer.from_pretrained(model)
    task = get_task(args.task, "bert")
    imp = config["imp"]
    rounds = imp["max_sparsity"] // imp["prune_percent"]
    masks, peaks = {}, {}
    for lang, seed in itertools.product(args.languages, args.seeds):
        data = load_prepared(resources / "data" / args.task / lang)
        training = TrainingConfig.from_dict({**config["tasks"][args.task]["training"], **overrides, "seed": seed})
        mask, curve = None, []
        for _ in range(rounds):
            fraction = round_prune_fraction(mask, imp["prune_percent"])
            result = run_imp_round(model, task, tokenizer, data, training, mask, prune_fraction=fraction,
                                   prune_from=args.prune_from or imp["prune_from"], progress=False)  # fmt: skip
            mask = result.next_mask
            curve.append(result.metrics["peak_metric"])
        masks[(lang, seed)], peaks[(lang, seed)] = mask, curve
        print(f"{args.task} {lang} seed {seed}: peaks {[round(x, 4) for x in curve]}", flush=True)
    return masks, peaks


def theta0_mask(args, sparsity: float) -> dict:
    """Magnitude pruning of theta0's own prunable weights at ``sparsity``: the mask no fine-tuning reshaped."""
    import yaml

    from subnets.masks import magnitude_prune, prunable_parameters
    from subnets.tasks import get_task
    from subnets.theta0 import build_task_model

    config = yaml.safe_load((args.study_dir / args.config).read_text())
    model = args.study_dir / "resources" / args.study / "models" / config["model"]["name"]
    weights = prunable_parameters(build_task_model(str(model), get_task(args.task, "bert"), seed=0))
    return magnitude_prune({name: w.detach() for name, w in weights.items()}, None, sparsity)


def overlaps(masks: dict, languages: list[str], seeds: list[int]) -> dict:
    from subnets.masks import jaccard_of_packed, pack_by_layer

    packed = {key: pack_by_layer(mask) for key, mask in masks.items()}
    jac = lambda a, b: jaccard_of_packed([packed[a], packed[b]])["all"]  # noqa: E731
    seed_pairs = list(itertools.permutations(seeds, 2))
    out = {"bound": {}, "cross": {}, "cross_same_seed": {}}
    for lang in languages:
        out["bound"][lang] = [jac((lang, a), (lang, b)) for a, b in itertools.combinations(seeds, 2)]
    for a, b in itertools.combinations(languages, 2):
        out["cross"][f"{a}-{b}"] = [jac((a, sa), (b, sb)) for sa, sb in seed_pairs]
        out["cross_same_seed"][f"{a}-{b}"] = [jac((a, s), (b, s)) for s in seeds]
    return out


def summary(result: dict, pivot: str, clone: str | None) -> dict:
    mean = lambda xs: statistics.fmean(xs)  # noqa: E731
    bounds = {lang: mean(v) for lang, v in result["bound"].items() if lang != clone}
    distinct = {pair: mean(v) for pair, v in result["cross"].items() if clone not in pair.split("-")}
    with_pivot = {pair.split("-")[1]: mean(v) for pair, v in result["cross"].items() if pair.startswith(pivot + "-")}
    return {
        "bound_min": min(bounds.values()),
        "bound_mean": mean(list(bounds.values())),
        "cross_max": max(distinct.values()),
        "cross_mean": mean(list(distinct.values())),
        "bound_above_every_pair": min(bounds.values()) > max(distinct.values()),
        "with_pivot": with_pivot,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study-dir", type=Path, required=True)
    parser.add_argument("--study", required=True)
    parser.add_argument("--config", default="config/demo.yaml")
    parser.add_argument("--task", required=True)
    parser.add_argument("--languages", nargs="+", required=True, help="the pivot first")
    parser.add_argument("--clone", default="t8")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--set", nargs="*", default=[], help="training overrides, key=value")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--prune-from", choices=["best", "last"], help="override the config's imp.prune_from")
    parser.add_argument("--head-seed", type=int, help="draw every chain's task head with this seed (as --set head_seed=N)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    overrides = {k: _value(v) for k, v in (item.split("=", 1) for item in args.set)}
    if args.head_seed is not None:  # every chain's task head drawn with one seed (TrainingConfig.head_seed)
        overrides["head_seed"] = args.head_seed
    started = time.time()
    masks, peaks = chains(args, overrides)
    clone = args.clone if args.clone in args.languages else None
    result = overlaps(masks, args.languages, args.seeds)
    # How far fine-tuning moved each mask from theta0's magnitude mask at the same sparsity.
    from subnets.masks import jaccard_of_packed, pack_by_layer, sparsity

    reference = pack_by_layer(theta0_mask(args, sparsity(next(iter(masks.values())))))
    result["to_theta0"] = {f"{lang}/{seed}": jaccard_of_packed([reference, pack_by_layer(mask)])["all"]
                           for (lang, seed), mask in masks.items()}  # fmt: skip
    record = {"task": args.task, "overrides": overrides, "prune_from": args.prune_from, "seeds": args.seeds,
              "languages": args.languages, "seconds": round(time.time() - started, 1), "peaks": {f"{k[0]}/{k[1]}": v for k, v in peaks.items()},
              **result, "summary": summary(result, args.languages[0], clone)}  # fmt: skip
    print(json.dumps(record["summary"], indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
