"""Building, loading and scoring the causal LM."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import torch
import torch.nn.functional as functional
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, PreTrainedModel

from training.ml.config import TrainingConfig
from training.ml.data import EncodedRows, collate, sorted_batches
from training.ml.formatting import IGNORE_INDEX, SpecialIds

# Architectures whose logits are exactly `lm_head(base_model(...).last_hidden_state)`; for them the
# loss projects only the target positions onto the vocabulary (most positions are prompt tokens).
_HEAD_ONLY_ON_TARGETS = {"llama", "gpt2", "mistral", "qwen2", "qwen3", "gpt_neox", "gptj", "gpt_neo"}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for but CUDA is not available")
    return torch.device(name)


def uses_bf16(precision: str, device: torch.device) -> bool:
    """Whether training autocasts to bfloat16: "auto" does where the hardware computes it natively
    (CUDA with bf16, or a CPU with AVX512-BF16 / AMX, where a `small` step takes ~30 % less CPU time);
    weights, optimizer state, the loss and every evaluation stay float32."""
    if precision == "fp32":
        return False
    if precision == "bf16":
        return True
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    cpu = getattr(torch, "cpu", None)
    return any(
        getattr(cpu, probe, lambda: False)()
        for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    )


def autocast_for(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    if uses_bf16(precision, device):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def build_model(config: TrainingConfig, vocab_size: int, ids: SpecialIds) -> PreTrainedModel:
    model_config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=config.d_model,
        intermediate_size=config.d_ff,
        num_hidden_layers=config.n_layers,
        num_attention_heads=config.n_heads,
        num_key_value_heads=config.n_heads,
        max_position_embeddings=config.max_source_tokens + config.max_target_tokens,
        attention_dropout=config.dropout,
        tie_word_embeddings=True,
        pad_token_id=ids.pad,
        eos_token_id=ids.eos,
        bos_token_id=None,
        attn_implementation="sdpa",
    )
    return LlamaForCausalLM(model_config)


def load_pretrained_model(path: str | Path, vocab_size: int) -> PreTrainedModel:
    """Any local Hugging Face causal LM, its embeddings resized to the tokenizer with our tokens."""
    model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True, dtype=torch.float32)
    if model.get_input_embeddings().num_embeddings != vocab_size:
        model.resize_token_embeddings(vocab_size)
    return model


def parameter_count(model: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def target_loss(model: PreTrainedModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Summed cross-entropy over the target tokens of a batch (labels != IGNORE_INDEX)."""
    labels = batch["labels"][:, 1:]
    if model.config.model_type in _HEAD_ONLY_ON_TARGETS:
        hidden = model.base_model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False
        ).last_hidden_state
        selected = labels != IGNORE_INDEX
        logits = model.get_output_embeddings()(hidden[:, :-1][selected])
        return functional.cross_entropy(logits.float(), labels[selected], reduction="sum")
    logits = model(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False
    ).logits
    return functional.cross_entropy(
        logits[:, :-1].flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE_INDEX, reduction="sum"
    )


def mean_target_loss(
    model: PreTrainedModel, encoded: EncodedRows, pad_id: int, batch_size: int, device: torch.device
) -> float:
    """Mean per-token loss over the target tokens of `encoded` (nan when empty)."""
    if not len(encoded):
        return math.nan
    was_training = model.training
    model.eval()
    total = torch.zeros((), device=device)
    with torch.inference_mode():
        for indices in sorted_batches(encoded, batch_size):
            batch = {name: tensor.to(device) for name, tensor in collate(encoded, indices, pad_id).items()}
            total += target_loss(model, batch)
    model.train(was_training)
    return total.item() / encoded.target_tokens(list(range(len(encoded))))


def perplexity(loss: float) -> float:
    return math.exp(min(loss, 50.0)) if not math.isnan(loss) else math.nan
