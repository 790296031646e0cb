"""Sentence embeddings for retrieval: one forward pass per length-sorted batch (subnets.retrieval.embed_sentences)
against the original code's way (one sentence per forward pass, padded to 512 tokens, or to all the
positions a smaller model has), on the same model and
sentences; checks that both give the same vectors at every layer.

    python benchmarks/retrieval_embedding.py --model resources/demo/models/toy-bert \
        --parallel resources/demo/toy/world/parallel/t0-t1 --src t0 --tgt t1 --n 200 --threads 1

``--model`` is any BERT-like directory (the demo's toy BERT, or mBERT where it is available). Prints one JSON
line: seconds of each way (best of ``--repeats``), the speed-up, and the largest absolute difference.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--parallel", required=True, help="parallel data (translation schema), with {src}/{tgt}")
    parser.add_argument("--src", default="t0")
    parser.add_argument("--tgt", default="t1")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mbert-sized", action="store_true",
                        help="replace the model's weights by a randomly initialised mBERT-sized encoder (12 layers, "
                             "hidden 768, 512 positions) with the same tokenizer: the original code's cost at scale")
    args = parser.parse_args()

    import numpy as np
    import torch

    from subnets.data import load_parallel
    from subnets.probes import load_masked_body
    from subnets.retrieval import embed_sentences, embed_sentences_one_by_one

    torch.set_num_threads(args.threads)
    sources, targets = load_parallel(args.parallel, src=args.src, tgt=args.tgt)
    sentences = (sources + targets)[: args.n]
    model, tokenizer = load_masked_body(args.model)
    if args.mbert_sized:
        from transformers import BertConfig, BertModel

        torch.manual_seed(0)
        model = BertModel(BertConfig(vocab_size=len(tokenizer), max_position_embeddings=512)).eval()
    # The original code pads to mBERT's 512 positions; a smaller model is padded to all the positions it has.
    pad_to = min(512, model.config.max_position_embeddings)

    def best_of(function):
        times, result = [], None
        for _ in range(args.repeats):
            start = time.perf_counter()
            result = function()
            times.append(time.perf_counter() - start)
        return min(times), result

    batched_s, batched = best_of(
        lambda: embed_sentences(model, tokenizer, sentences, batch_size=args.batch_size, max_length=pad_to)
    )
    one_s, one = best_of(lambda: embed_sentences_one_by_one(model, tokenizer, sentences, max_length=pad_to))
    print(json.dumps({
        "model": args.model + (" (mBERT-sized, random weights)" if args.mbert_sized else ""),
        "sentences": len(sentences),
        "layers": int(batched.shape[0]),
        "threads": args.threads,
        "batched_seconds": round(batched_s, 3),
        "padded_to": pad_to,
        "one_by_one_padded_seconds": round(one_s, 3),
        "speedup": round(one_s / batched_s, 1),
        "max_abs_difference": float(np.abs(batched - one).max()),
    }))


if __name__ == "__main__":
    main()
