"""``subnets-toy``: write the toy world, train its tokenizer and pre-train its tiny model (BERT, XLM-R, Llama or
mT5) from the command line.

    subnets-toy world --out DIR [--seed N] [--languages N | --languages t0,t2,t4] [--nli-train N ...]
    subnets-toy tokenizer --world DIR --out DIR [--vocab-size N]
    subnets-toy pretrain --world DIR --tokenizer DIR --out DIR [--config JSON] [--family bert|xlmr|decoder|t5]

Progress goes to stderr; outputs appear atomically (complete under their final name, or not at all).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from subnets.io import atomic_path
from subnets.toy.config import WorldConfig
from subnets.toy.pretrain import TOY_MODEL_FAMILIES
from subnets.toy.tokenizer import DEFAULT_VOCAB_SIZE, train_tokenizer, world_texts
from subnets.toy.world import write_world

# WorldConfig fields settable as --flags (the tuple-valued ones have their own parsing).
_SIZE_FIELDS = [
    field.name
    for field in dataclasses.fields(WorldConfig)
    if field.type == "int" and field.name not in ("seed", "languages")
]


def _languages(value: str) -> int | tuple[str, ...]:
    return int(value) if value.isdigit() else tuple(code.strip() for code in value.split(",") if code.strip())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="subnets-toy", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    world = commands.add_parser("world", help="generate the toy world's datasets and manifest")
    world.add_argument("--out", type=Path, required=True, help="output directory (replaced as a whole)")
    world.add_argument("--seed", type=int, default=WorldConfig.seed)
    world.add_argument(
        "--languages",
        type=_languages,
        default=WorldConfig.languages,
        help="a count (2-8: the first N of t0..t7) or comma-separated codes including t0",
    )
    world.add_argument("--low-resource-share", type=float, default=WorldConfig.low_resource_share)
    world.add_argument(
        "--sentences-per-doc", type=int, nargs=2, metavar=("MIN", "MAX"), default=WorldConfig.sentences_per_doc
    )
    for name in _SIZE_FIELDS:
        world.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(WorldConfig, name))

    tokenizer = commands.add_parser("tokenizer", help="train the WordPiece tokenizer on a world's MLM text")
    tokenizer.add_argument("--world", type=Path, required=True, help="directory written by `subnets-toy world`")
    tokenizer.add_argument("--out", type=Path, required=True, help="output directory (replaced as a whole)")
    tokenizer.add_argument("--vocab-size", type=int, default=DEFAULT_VOCAB_SIZE)

    pretrain = commands.add_parser("pretrain", help="pre-train the tiny model of a family on a world's MLM text")
    pretrain.add_argument("--world", type=Path, required=True, help="directory written by `subnets-toy world`")
    pretrain.add_argument("--tokenizer", type=Path, required=True, help="directory of `subnets-toy tokenizer`")
    pretrain.add_argument("--out", type=Path, required=True, help="output directory (replaced as a whole)")
    pretrain.add_argument(
        "--config",
        type=json.loads,
        default={},
        help='model shape and training as JSON, e.g. \'{"hidden_size": 64, "training": {"max_steps": 500}}\'',
    )
    pretrain.add_argument(
        "--family",
        choices=TOY_MODEL_FAMILIES,
        default="bert",
        help="bert, xlmr: masked LM; decoder: a Llama with causal LM (ToyModelConfig keys); t5: an mT5 with span "
        "corruption (ToyT5Config keys)",
    )
    return parser


def _log(message: str) -> None:
    print(f"[subnets-toy] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    start = time.perf_counter()
    if args.command == "world":
        try:
            config = WorldConfig(
                seed=args.seed,
                languages=args.languages,
                low_resource_share=args.low_resource_share,
                sentences_per_doc=tuple(args.sentences_per_doc),
                **{name: getattr(args, name) for name in _SIZE_FIELDS},
            )
        except ValueError as error:
            _parser().error(str(error))
        _log(f"writing the toy world (seed {config.seed}, languages {', '.join(config.language_codes)}) to {args.out}")
        manifest = write_world(args.out, config)
        rows = sum(entry["rows"] for entry in manifest["files"].values())
        _log(f"{len(manifest['files'])} files, {rows} rows in {time.perf_counter() - start:.1f} s")
    elif args.command == "pretrain":
        from subnets.toy.pretrain import toy_model_config_class, toy_pretraining

        pretrain = toy_pretraining(args.family)
        try:
            config = toy_model_config_class(args.family).from_dict(args.config)
        except ValueError as error:
            _parser().error(str(error))
        metrics = pretrain(args.world, args.tokenizer, args.out, config)
        _log(
            f"perplexity {metrics['perplexity']:.1f} (unigram baseline {metrics['unigram_perplexity']:.1f}); "
            f"saved to {args.out} in {time.perf_counter() - start:.1f} s"
        )
    else:
        languages = json.loads((args.world / "world.json").read_text())["languages"]
        _log(f"training a WordPiece tokenizer ({args.vocab_size} pieces) on the MLM text of {', '.join(languages)}")
        with atomic_path(args.out) as tmp:
            train_tokenizer(world_texts(args.world), tmp, vocab_size=args.vocab_size)
        _log(f"saved to {args.out} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
