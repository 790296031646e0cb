"""Time the demo world's preparation: world generation, tokenizer, pre-training of the toy model of the config's
model.family (the tiny BERT by default; issue target: <= 5 min on 2 CPU cores), and report how much the model
learned (held-out perplexity of its LM objective against the unigram baseline).

    python benchmarks/toy_world.py --config config/demo.yaml --threads 2 --out benchmarks/out/toy_world

Reads the `toy` section of the config, runs the same library calls as the workflow's three rules, and prints
one JSON line with the seconds of each stage and the perplexities.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import yaml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="config/demo.yaml")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/out/toy_world")
    args = parser.parse_args()

    started = time.perf_counter()
    import torch

    from subnets.toy.config import WorldConfig
    from subnets.toy.pretrain import toy_model_config_class, toy_pretraining
    from subnets.toy.tokenizer import train_tokenizer, world_texts
    from subnets.toy.world import write_world

    imports = time.perf_counter() - started
    torch.set_num_threads(args.threads)
    config = yaml.safe_load(Path(args.config).read_text())
    toy, family = config["toy"], config.get("model", {}).get("family", "bert")
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    world_spec = dict(toy["world"])
    for key in ("languages", "sentences_per_doc"):
        if isinstance(world_spec.get(key), list):
            world_spec[key] = tuple(world_spec[key])

    seconds = {"imports": imports}
    tick = time.perf_counter()
    write_world(out / "world", WorldConfig(**world_spec))
    seconds["world"] = time.perf_counter() - tick
    tick = time.perf_counter()
    train_tokenizer(world_texts(out / "world"), out / "tokenizer", **toy.get("tokenizer", {}))
    seconds["tokenizer"] = time.perf_counter() - tick
    tick = time.perf_counter()
    model_config = toy_model_config_class(family).from_dict(toy.get("model", {}))
    metrics = toy_pretraining(family)(out / "world", out / "tokenizer", out / "model", model_config, progress=False)
    seconds["pretrain"] = time.perf_counter() - tick
    seconds["total"] = time.perf_counter() - started
    print(json.dumps({
        "config": args.config,
        "family": family,
        "threads": args.threads,
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "perplexity": round(metrics["perplexity"], 1),
        "unigram_perplexity": round(metrics["unigram_perplexity"], 1),
        "ratio": round(metrics["perplexity"] / metrics["unigram_perplexity"], 3),
        "parameters": metrics["parameters"],
        "train_blocks": metrics["train_blocks"],
        "steps": metrics["total_steps"],
        "curve": [(p["step"], round(p["metric"], 1)) for p in metrics["eval_curve"]],
    }))


if __name__ == "__main__":
    main()
