"""An mBERT-scale rehearsal without a download: the pipeline's library on a model of mBERT's published shape.

A BertForPreTraining with bert-base-multilingual-cased's architecture (vocab 119,547, 12 layers, hidden 768,
intermediate 3072, pooler) and random weights is saved as a local pre-training checkpoint with a fixed-vocabulary
WordPiece tokenizer, snapshotted with subnets.theta0.snapshot_pretrained, and each task (MLM, NER, NLI) runs a
few steps of one IMP round (subnets.imp.run_imp_round) on tiny local datasets in the hub schemas (batch 32 x 128
tokens). Measured: seconds per training step (time between consecutive optimizer steps), peak memory (RSS of
the phase's own process), mask file size (subnets.masks.save_mask), the overlap of 11 random masks over all
pairs and layers (subnets.masks.jaccard_by_layer), and the embedding time of 3,003 sentence pairs at every layer
(subnets.retrieval.embed_sentences on a sample, extrapolated). Each phase runs in a fresh process.

    python benchmarks/mbert_scale.py --threads 2 --steps 2 --embed-sample 256

Prints one JSON line per phase and a summary; ``--out`` writes the summary as JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MBERT = dict(vocab_size=119547, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
             intermediate_size=3072, max_position_embeddings=512, type_vocab_size=2)  # fmt: skip
SEQ, BATCH, PAIRS = 128, 32, 3003


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _words(n: int, seed: int, vocab: int) -> list[str]:
    import random

    rng = random.Random(seed)
    return [f"w{rng.randrange(vocab)}" for _ in range(n)]


def phase_build(work: Path, args) -> dict:
    import torch
    from transformers import BertConfig, BertForPreTraining

    from subnets.toy.tokenizer import SPECIAL_TOKENS, wordpiece_tokenizer

    start = time.perf_counter()
    tokenizer = wordpiece_tokenizer([f"w{i}" for i in range(MBERT["vocab_size"] - len(SPECIAL_TOKENS))])
    assert len(tokenizer) == MBERT["vocab_size"], len(tokenizer)
    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig(**MBERT, pad_token_id=tokenizer.pad_token_id))
    model.save_pretrained(work / "checkpoint")
    tokenizer.save_pretrained(work / "checkpoint")
    size = sum(p.stat().st_size for p in (work / "checkpoint").iterdir())
    return {"phase": "build", "seconds": round(time.perf_counter() - start, 1), "parameters": model.num_parameters(),
            "checkpoint_mb": round(size / 2**20), "peak_rss_mb": round(_peak_mb())}  # fmt: skip


def phase_snapshot(work: Path, args) -> dict:
    from subnets.theta0 import snapshot_info, snapshot_pretrained

    start = time.perf_counter()
    snapshot_pretrained(work / "checkpoint", work / "snapshot", "bert")
    info = snapshot_info(work / "snapshot")
    return {"phase": "snapshot", "seconds": round(time.perf_counter() - start, 1),
            "missing_from_checkpoint": info["missing_from_checkpoint"], "model_class": info["model_class"],
            "peak_rss_mb": round(_peak_mb())}  # fmt: skip


def _local_data(root: Path, task: str, n_train: int, n_eval: int, vocab: int) -> Path:
    rows = {"train": n_train, "validation": n_eval}
    for split, n in rows.items():
        lines = []
        for i in range(n):
            seed = 2 * i + (split == "validation")
            if task == "ner":
                tokens = _words(SEQ - 2, seed, vocab)
                lines.append({"tokens": tokens, "ner_tags": [(j * 7 + i) % 7 for j in range(len(tokens))]})
            elif task == "nli":
                lines.append({"premise": " ".join(_words(80, seed, vocab)),
                              "hypothesis": " ".join(_words(44, seed + 1, vocab)), "label": i % 3})  # fmt: skip
            else:  # documents of about 4 blocks each
                lines.append({"text": " ".join(_words(4 * SEQ, seed, vocab))})
        path = root / task / f"{split}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return root / task


def phase_task(work: Path, args, task_name: str) -> dict:
    import torch
    from transformers import AutoTokenizer

    from subnets.data import load_prepared, load_raw, prepare_dataset
    from subnets.imp import run_imp_round
    from subnets.masks import save_mask, sparsity
    from subnets.tasks import get_task
    from subnets.training import TrainingConfig

    steps = args.steps + 1  # the first interval starts at the first optimizer step
    task = get_task(task_name)
    tokenizer = AutoTokenizer.from_pretrained(work / "snapshot")
    n_train = BATCH * steps
    docs = n_train // 3 + 2 if task_name == "mlm" else n_train
    source = _local_data(work / "data", task_name, docs, BATCH if task_name != "mlm" else 10, MBERT["vocab_size"] - 5)
    raw = load_raw(task, source, "xx", split_seed=0) if task_name != "mlm" else load_raw(task, source, "xx")
    prepare_dataset(raw, task, tokenizer, work / f"prepared-{task_name}", n_train=n_train, n_eval=BATCH,
                    max_length=SEQ, seed=0, source=str(source))  # fmt: skip
    data = load_prepared(work / f"prepared-{task_name}")

    stamps = []
    original = torch.optim.AdamW.step

    def timed(self, *a, **k):
        stamps.append(time.perf_counter())
        return original(self, *a, **k)

    torch.optim.AdamW.step = timed
    config = TrainingConfig(batch_size=BATCH, eval_batch_size=BATCH, max_steps=steps, eval_every=10_000,
                            learning_rate=5e-5, seed=0)  # fmt: skip
    start = time.perf_counter()
    result = run_imp_round(str(work / "snapshot"), task, tokenizer, data, config, prune_fraction=0.1, progress=False)
    round_seconds = time.perf_counter() - start
    intervals = [b - a for a, b in zip(stamps, stamps[1:])]
    path = work / f"mask-{task_name}.safetensors"
    save_mask(path, result.next_mask, {"task": task_name, "note": "benchmark"})
    return {"phase": f"imp_round:{task_name}", "steps": len(stamps),
            "seconds_per_step": round(sum(intervals) / len(intervals), 1) if intervals else None,
            "step_intervals": [round(x, 1) for x in intervals], "round_seconds": round(round_seconds, 1),
            "mask_mb": round(path.stat().st_size / 2**20, 2), "mask_sparsity": round(sparsity(result.next_mask), 3),
            "train_rows": len(data["train"]), "peak_rss_mb": round(_peak_mb())}  # fmt: skip


def phase_overlap(work: Path, args) -> dict:
    import itertools

    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from subnets.masks import jaccard_by_layer, jaccard_of_packed, pack_by_layer, prunable_shapes, random_mask, save_mask

    with torch.device("meta"):
        model = BertForSequenceClassification(BertConfig(**MBERT, num_labels=3))
    shapes = prunable_shapes(model)
    start = time.perf_counter()
    masks = [random_mask(shapes, 0.5, seed) for seed in range(11)]
    build = time.perf_counter() - start
    start = time.perf_counter()
    pairs = [jaccard_by_layer([a, b]) for a, b in itertools.combinations(masks, 2)]
    overlap = time.perf_counter() - start
    # The overlap job's way (subnets.overlap.measure): each mask packed once, then every pair on packed bits.
    start = time.perf_counter()
    packed = [pack_by_layer(mask) for mask in masks]
    assert [jaccard_of_packed([a, b]) for a, b in itertools.combinations(packed, 2)] == pairs
    overlap_packed_once = time.perf_counter() - start
    save_mask(work / "random.safetensors", masks[0], {"note": "benchmark"})
    return {"phase": "overlap", "masks": 11, "pairs": len(pairs), "layers_per_pair": len(pairs[0]),
            "prunable_weights": sum(int(torch.Size(s).numel()) for s in shapes.values()),
            "seconds_random_masks": round(build, 2), "seconds_all_pairs": round(overlap, 2),
            "seconds_all_pairs_packed_once": round(overlap_packed_once, 2),
            "mask_mb_with_pooler": round((work / "random.safetensors").stat().st_size / 2**20, 2),
            "jaccard_all_mean": round(sum(p["all"] for p in pairs) / len(pairs), 4),
            "peak_rss_mb": round(_peak_mb())}  # fmt: skip


def phase_embed(work: Path, args) -> dict:
    import random

    from transformers import AutoModel, AutoTokenizer

    from subnets.retrieval import embed_sentences

    tokenizer = AutoTokenizer.from_pretrained(work / "snapshot")
    model = AutoModel.from_pretrained(work / "snapshot")
    rng = random.Random(0)
    # newstest sentences: about 20-40 mBERT tokens; lengths drawn from 8..60 words (whole-vocabulary words)
    sentences = [" ".join(_words(rng.randint(8, 60), i, MBERT["vocab_size"] - 5)) for i in range(args.embed_sample)]
    start = time.perf_counter()
    vectors = embed_sentences(model, tokenizer, sentences, batch_size=64, max_length=SEQ)
    seconds = time.perf_counter() - start
    total = 2 * PAIRS
    return {"phase": "embed", "sample_sentences": len(sentences), "layers": vectors.shape[0],
            "seconds_sample": round(seconds, 1), "extrapolated_seconds_3003_pairs": round(seconds * total / len(sentences)),
            "peak_rss_mb": round(_peak_mb())}  # fmt: skip


PHASES = ["build", "snapshot", "task:ner", "task:nli", "task:mlm", "overlap", "embed"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2, help="timed training steps per task (one more is run)")
    parser.add_argument("--embed-sample", type=int, default=256)
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--phase", default=None, help=argparse.SUPPRESS)  # internal: run one phase
    args = parser.parse_args()

    if args.phase:
        import torch

        torch.set_num_threads(args.threads)
        work = Path(args.workdir)
        name, _, task = args.phase.partition(":")
        result = phase_task(work, args, task) if name == "task" else globals()[f"phase_{name}"](work, args)
        print("RESULT " + json.dumps(result), flush=True)
        return

    work = Path(args.workdir or tempfile.mkdtemp(prefix="mbert-scale-"))
    results, start = [], time.perf_counter()
    for phase in args.phases.split(","):
        command = [sys.executable, __file__, "--phase", phase, "--workdir", str(work), "--threads", str(args.threads),
                   "--steps", str(args.steps), "--embed-sample", str(args.embed_sample)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True)
        lines = [line[7:] for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode or not lines:
            print(done.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"phase {phase} failed (exit {done.returncode})")
        results.append(json.loads(lines[-1]))
        print(lines[-1], flush=True)
    summary = {"threads": args.threads, "workdir": str(work), "total_seconds": round(time.perf_counter() - start),
               "phases": results}  # fmt: skip
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({"total_seconds": summary["total_seconds"]}))


if __name__ == "__main__":
    main()
