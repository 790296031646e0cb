"""Training-step time and peak memory: masked vs dense vs torch.nn.utils.prune hooks.

Three ways to train the same BERT sequence classifier on the same batches:
  dense   no mask (the cost floor);
  masked  this project's way: gradients zeroed and the mask re-applied in place after each step;
  hooks   the original authors' way: torch.nn.utils.prune.global_unstructured with L1Unstructured, which keeps
          weight_orig and weight_mask and recomputes weight = weight_orig * weight_mask in a forward pre-hook.

All three run through the project's MaskedTrainer (the hooked model is trained "densely" since its hooks do the
masking). Step time is (time of 2N steps - time of N steps) / N, which cancels set-up and the final evaluation.
Each variant runs in a fresh process so peak memory (RSS on CPU, max allocated on CUDA) is its own.

    python benchmarks/masked_training.py --size tiny          # CPU, a 4-layer hidden-128 BERT
    python benchmarks/masked_training.py --size mbert         # mBERT-sized (from its config), for the GPU
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

SIZES = {
    # hidden, layers, heads, intermediate, vocab, seq_len, batch
    "tiny": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=512,
                 vocab_size=4000, seq_len=64, batch=32),
    "mbert": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                  vocab_size=119547, seq_len=128, batch=32),
}  # fmt: skip


def _run_variant(variant: str, size: str, steps: int, threads: int, seed: int = 0) -> dict:
    import datasets
    import torch
    from torch.nn.utils import prune
    from transformers import BertConfig, BertForSequenceClassification

    from subnets import masks
    from subnets.tasks import get_task
    from subnets.toy.tokenizer import wordpiece_tokenizer
    from subnets.training import MaskedTrainer, TrainingConfig

    torch.set_num_threads(threads)
    spec = dict(SIZES[size])
    seq_len, batch = spec.pop("seq_len"), spec.pop("batch")
    torch.manual_seed(seed)
    model_config = BertConfig(num_labels=3, **spec)
    tokenizer = wordpiece_tokenizer([f"w{i}" for i in range(spec["vocab_size"] - 5)])
    n_train = batch * 2 * steps
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, spec["vocab_size"], (n_train + batch, seq_len), generator=generator)
    rows = {
        "input_ids": ids.tolist(),
        "attention_mask": [[1] * seq_len] * len(ids),
        "token_type_ids": [[0] * seq_len] * len(ids),
        "labels": torch.randint(0, 3, (len(ids),), generator=generator).tolist(),
    }
    data = datasets.Dataset.from_dict(rows)
    train_set, eval_set = data.select(range(n_train)), data.select(range(n_train, n_train + batch))
    task = get_task("nli")

    def timed(n_steps: int) -> float:
        torch.manual_seed(seed)
        model = BertForSequenceClassification(model_config)
        prunable = masks.prunable_parameters(model, "bert")
        mask = None
        if variant in ("masked", "hooks"):
            mask = masks.random_mask({n: p.shape for n, p in prunable.items()}, 0.5, seed)
        if variant == "hooks":
            modules = dict(model.named_modules())
            targets = [(modules[n.rsplit(".", 1)[0]], "weight") for n in prunable]
            # Installs weight_orig/weight_mask and the forward pre-hook; then impose our random mask.
            prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=0.5)
            for (module, _), name in zip(targets, prunable):
                module.weight_mask.copy_(mask[name])
            mask = None
        config = TrainingConfig(learning_rate=1e-4, batch_size=batch, eval_batch_size=batch, max_steps=n_steps,
                                eval_every=10**9, seed=seed)  # fmt: skip
        trainer = MaskedTrainer(model, task, tokenizer, train_set, eval_set, config, mask, progress=False)
        # Time the masking operations themselves: on a noisy machine this share is a steadier figure of the
        # overhead than the difference of two whole-step timings.
        masking_seconds = [0.0]
        for method in ("_mask_gradients", "_apply_mask"):
            original = getattr(trainer, method)

            def timed_method(original=original):
                synchronize()
                start = time.perf_counter()
                original()
                synchronize()
                masking_seconds[0] += time.perf_counter() - start

            setattr(trainer, method, timed_method)
        synchronize()
        start = time.perf_counter()
        trainer.train()
        synchronize()
        return time.perf_counter() - start, masking_seconds[0]

    def synchronize():
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    timed(2)  # warm-up: kernels, allocator, lazy imports
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    (short, _), (long, masking) = timed(steps), timed(2 * steps)
    result = {"variant": variant, "size": size, "steps": steps, "threads": threads,
              "step_ms": 1000 * (long - short) / steps,
              "masking_ops_share": masking / long}  # fmt: skip
    if torch.cuda.is_available():
        result["device"] = torch.cuda.get_device_name()
        result["peak_mem_mib"] = torch.cuda.max_memory_allocated() / 2**20
    else:
        result["device"] = "cpu"
        result["peak_mem_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 gives the steadiest figures)")
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per variant, interleaved")
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # internal: run one variant in this process
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)

    if args.variant:
        print(json.dumps(_run_variant(args.variant, args.size, args.steps, args.threads)))
        return

    # Variants take turns (dense, masked, hooks, dense, ...) so that slow spells of a shared machine hit all
    # of them alike; the minimum over repeats is the least disturbed figure, the median is kept beside it.
    variants = ("dense", "masked", "hooks")
    runs = {variant: [] for variant in variants}
    for _ in range(args.repeats):
        for variant in variants:
            cmd = [sys.executable, __file__, "--size", args.size, "--steps", str(args.steps),
                   "--threads", str(args.threads), "--variant", variant]  # fmt: skip
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            runs[variant].append(json.loads(out.strip().splitlines()[-1]))
    results = []
    for variant in variants:
        ordered = sorted(runs[variant], key=lambda r: r["step_ms"])
        best = dict(ordered[0])
        best["step_ms_median"] = ordered[len(ordered) // 2]["step_ms"]
        best["step_ms_all"] = [round(r["step_ms"], 2) for r in runs[variant]]
        best["peak_mem_mib"] = min(r["peak_mem_mib"] for r in ordered)
        results.append(best)
        print(f"{variant:7s} min {best['step_ms']:8.2f} ms/step, median {best['step_ms_median']:8.2f}  "
              f"peak {best['peak_mem_mib']:8.1f} MiB  masking ops {100 * best['masking_ops_share']:.2f}% of the time  "
              f"({best['device']}; runs {best['step_ms_all']})",
              file=sys.stderr)  # fmt: skip
    dense = results[0]
    for r in results:
        r["time_vs_dense"] = r["step_ms"] / dense["step_ms"]
        r["median_time_vs_dense"] = r["step_ms_median"] / dense["step_ms_median"]
        r["memory_vs_dense"] = r["peak_mem_mib"] / dense["peak_mem_mib"]
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
