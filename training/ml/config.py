"""Training configuration: one dataclass and the named size presets.

The model is Llama-style (rotary position embeddings, RMSNorm, SwiGLU, no biases, tied input/output
embeddings), configured from scratch with `LlamaConfig`, never downloaded. Why not GPT-2:

* rotary embeddings encode *relative* positions, which is what copying a brand, noun or number from
  the prompt into the copy needs (an induction pattern that does not depend on where the product
  fields happen to sit); GPT-2's learned absolute position table must learn that for every offset;
* on this project's 2-core CPU a 4-layer, d=128 Llama-style block trains about 13 % more tokens/s
  than a GPT-2 block with the same parameter count (no biases, one fused norm, no position table);
* the same `AutoModelForCausalLM` path still loads any local Hugging Face causal LM for warm
  starts (GPT-2 included), so the choice costs no flexibility.

How `small` was tuned (2,000 products, ~6,400 training rows, 2-core CPU): one tone per product per
epoch for 10 epochs (about 2.5 passes over every creative), 3 layers of d=128. Four layers or 12
epochs score a little higher (ROUGE-L +0.01) but take 20-50 % longer, which on one free core would
cross the 3-minute budget; fewer epochs cost fact fidelity first (prices copied digit by digit
need the late, low-learning-rate epochs). `manage.py benchmark_training --products 2000 --preset
small` measures wall time, throughput and quality against the copy-the-title baseline.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class TrainingConfig:
    preset: str = "small"
    # optimisation
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    grad_clip: float = 1.0
    seed: int = 0
    max_steps: int | None = None
    early_stopping_patience: int | None = 3
    # One reference creative per product per epoch (of its four tones); None trains on every row.
    # An epoch is then a cheap pass over every product, so validation and early stopping come
    # often, and over the epochs every tone of every product is still seen.
    tones_per_product: int | None = 1
    # sequences
    max_source_tokens: int = 96
    max_target_tokens: int = 64
    vocab_size: int = 4096
    # architecture (ignored when warm-starting from `pretrained_path`)
    d_model: int = 128
    n_layers: int = 3
    n_heads: int = 4
    d_ff: int = 344
    dropout: float = 0.0
    # evaluation: generation on at most eval_max_items test rows; validation loss each epoch on
    # at most validation_max_items rows (both deterministic samples)
    eval_max_items: int = 400
    validation_max_items: int | None = 400
    eval_batch_size: int = 128
    # runtime
    device: str = "auto"
    precision: str = "auto"  # "auto": bf16 autocast where the hardware has it (see modeling.uses_bf16)
    pretrained_path: str | None = None
    # None: all cores torch would use, minus those the load average says are busy (see
    # preparation.auto_thread_count); results are the same for any thread count on this CPU.
    num_threads: int | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def with_overrides(self, **overrides) -> TrainingConfig:
        return dataclasses.replace(self, **overrides)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> TrainingConfig:
        """The named preset with some fields changed, e.g. `from_preset("small", epochs=3)`."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        return PRESETS[name].with_overrides(**overrides)

    def validate(self) -> None:
        positive = ("epochs", "batch_size", "max_source_tokens", "max_target_tokens", "vocab_size")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"TrainingConfig.{name} must be positive, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"TrainingConfig.learning_rate must be positive, got {self.learning_rate}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"TrainingConfig.warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(
                f"TrainingConfig.precision must be 'auto', 'fp32' or 'bf16', got {self.precision!r}"
            )
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(
                f"TrainingConfig.device must be 'auto', 'cpu' or 'cuda[:n]', got {self.device!r}"
            )


PRESETS: dict[str, TrainingConfig] = {
    # Tests: ~100 products train in a few seconds on 2 CPU cores.
    "tiny": TrainingConfig(
        preset="tiny",
        epochs=6,
        batch_size=16,
        learning_rate=3e-3,
        warmup_ratio=0.1,
        tones_per_product=None,
        max_source_tokens=80,
        max_target_tokens=48,
        vocab_size=512,
        d_model=64,
        n_layers=2,
        n_heads=2,
        d_ff=172,
        early_stopping_patience=None,
        eval_max_items=16,
        validation_max_items=64,
        eval_batch_size=32,
        num_threads=1,  # d=64 matrices gain nothing from a second thread; one thread keeps tests repeatable
    ),
    # Demo: 2,000 products (tokenizer + training + evaluation) in about 2 minutes on 2 CPU cores.
    "small": TrainingConfig(preset="small"),
    # Nightly production: ~12M parameters; meant for a GPU or a long CPU night.
    "base": TrainingConfig(
        preset="base",
        epochs=30,
        batch_size=32,
        learning_rate=1e-3,
        warmup_ratio=0.05,
        tones_per_product=None,
        max_source_tokens=160,
        max_target_tokens=96,
        vocab_size=8192,
        d_model=320,
        n_layers=8,
        n_heads=8,
        d_ff=864,
        dropout=0.1,
        early_stopping_patience=3,
        eval_max_items=1000,
        validation_max_items=None,
    ),
}
