"""A tiny randomly initialised model of the embedded model's architecture (Llama, SmolLM2's tokenizer and
chat template), for tests of training, conversion and serving. Real SmolLM2 training belongs in `bench/`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TINY: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "max_position_embeddings": 2048,
}


def smollm2_tokenizer(cache: Path):
    """SmolLM2's tokenizer, read from the embedded model's GGUF once (~12 s) and kept under `cache`."""
    from transformers import AutoTokenizer

    saved = cache / "smollm2-tokenizer"
    if not (saved / "tokenizer.json").exists():
        from lbi.models.local_llm import GGUF_NAME, default_model_path

        tok = AutoTokenizer.from_pretrained(str(default_model_path().parent), gguf_file=GGUF_NAME)
        tok.save_pretrained(saved)
    return AutoTokenizer.from_pretrained(saved)


def make_tiny_model(out: Path, cache: Path, seed: int = 0, initializer_range: float = 0.02) -> Path:
    """Write a Hugging Face model directory at `out`: a 2-layer Llama with SmolLM2's tokenizer (≈3 M params).
    A wider `initializer_range` gives token embeddings large enough for a LoRA adapter (which does not touch
    them, nor the final norm) to make a chosen token the most likely one by a clear margin."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = smollm2_tokenizer(cache)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tok),
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
        rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
        initializer_range=initializer_range,
        **TINY,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
