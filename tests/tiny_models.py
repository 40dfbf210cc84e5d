"""Tiny random models built from a config in code, for fast offline unit tests.

They share the real code paths (`from_pretrained`, chat templates, PEFT) with SmolLM2 but
load in milliseconds. Their answers are noise; tests on them assert on mechanics
(streaming, stopping, limits, formats), never on content.
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = [
    "def add(a, b):\n    return a + b\n",
    "import pandas as pd\ndf = pd.read_csv('data.csv')\ndf.describe()\n",
    "The quick brown fox jumps over the lazy dog. Explain the error and fix the code.",
    "Write a function that sorts a list of numbers. Use ```python fences for code.",
]


def build_tiny_tokenizer(directory: Path, model_max_length: int = 256):
    """A byte-level BPE tokenizer trained on a few lines, with a ChatML template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    raw.train_from_iterator(_CORPUS * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        model_max_length=model_max_length,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(directory)
    return tokenizer


def build_tiny_causal_lm(directory: Path, context_length: int = 256, seed: int = 0) -> Path:
    """A 2-layer random Llama with the tiny tokenizer, saved as an HF model directory."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    directory = Path(directory)
    tokenizer = build_tiny_tokenizer(directory, model_max_length=context_length)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=context_length,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        # Untied: a tied random model mostly repeats its last input token (a newline after the
        # chat template), so answers would be empty; untied, they are visible noise.
        tie_word_embeddings=False,
    )
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory
