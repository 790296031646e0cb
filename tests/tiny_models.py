"""Tiny randomly initialised models for the tests (no downloads).

A tiny BERT directory looks exactly like a pre-trained one on disk (config, safetensors weights, tokenizer),
so the code under test loads it through the same ``from_pretrained`` path as mBERT.
"""

from __future__ import annotations

from pathlib import Path

from subnets.toy.tokenizer import wordpiece_tokenizer


def save_tiny_bert(
    path: str | Path,
    words: list[str],
    *,
    hidden_size: int = 32,
    num_layers: int = 2,
    num_heads: int = 2,
    intermediate_size: int = 64,
    max_position_embeddings: int = 128,
    seed: int = 0,
) -> Path:
    """Write a randomly initialised BertForMaskedLM and its tokenizer to ``path``; return the path."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    path = Path(path)
    tokenizer = wordpiece_tokenizer(words)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    BertForMaskedLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
