"""QLoRA numbers behind the figures: published Guanaco results, activation memory, paged optimizers.

1. :data:`GUANACO_RESULTS` / :func:`predicted_vs_published` -- the Guanaco rows of QLoRA
   Tables 1, 5 and 6 next to what :func:`numerics.memory.qlora_memory` predicts.
2. :func:`activation_bytes` -- activation memory of one training step (Korthikanti et al. 2022).
3. :func:`simulate_paging` -- GPU memory over training steps with variable sequence lengths,
   without and with QLoRA's paged optimizer.

Sources
-------
* QLoRA: Dettmers, Pagnoni, Holtzman, Zettlemoyer 2023, "QLoRA: Efficient Finetuning of
  Quantized LLMs", arXiv 2305.14314.  Table 1 (Elo, GPT-4 judge, Vicuna benchmark, with a
  "Size" column), Table 5 (MMLU 5-shot), Table 6 (Vicuna benchmark as % of ChatGPT, with a
  "Memory" column), Sec. 2 ("the 4-bit base model consumes 5,048 MB"), Sec. 3 "Paged
  Optimizers", Sec. 5.1 ("we use NF4 QLoRA with double quantization and paged optimizers to
  prevent memory spikes during gradient checkpointing").
* Korthikanti, Casper, Lym, McAfee, Andersch, Shoeybi, Catanzaro 2022, "Reducing Activation
  Recomputation in Large Transformer Models", arXiv 2205.05198 (MLSys 2023): Sec. 4 (16-bit
  activations, 1-byte dropout masks, small buffers ignored), Eq. 1 (per layer
  ``sbh(34 + 5as/h)``), Sec. 4.3 (embedding dropout ``sbh``, last layer norm ``2sbh``, output
  layer input ``2sbh``, fp32 logits ``4sbv``), Sec. 5 and Table 2 (full activation
  recomputation: ``2sbh`` per layer, ``2sbhL`` in total), Sec. 5 worked numbers for GPT-3
  (``5as/h = 80``, 70 % saved by selective recomputation) and MT-NLG (64, 65 %).
* artidoro/qlora (the released code): ``scripts/finetune_guanaco_{7,13,33,65}b.sh``
  (``--gradient_checkpointing``, ``--per_device_train_batch_size 4``, ``--source_max_len 16``,
  ``--target_max_len 512``); ``qlora.py`` ``DataCollatorForCausalLM`` pads every micro-batch
  to its longest sequence (``pad_sequence``).

Units: bytes everywhere; GB = 1e9 bytes (:data:`numerics.memory.GB`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from numerics.activations import Lengths, activation_bytes
from numerics.memory import (
    ALL_LINEAR,
    GB,
    LLAMA_7B,
    LLAMA_13B,
    LLAMA_33B,
    LLAMA_65B,
    MemoryBreakdown,
    TransformerShape,
    gpu_capacity_bytes,
    qlora_memory,
)

# =========================================================== 1. published Guanaco results


@dataclass(frozen=True)
class GuanacoResult:
    """One Guanaco model (LLaMA + 4-bit QLoRA on OASST1) as printed in QLoRA (arXiv 2305.14314).

    * ``memory_gb`` -- Table 6, column "Memory".  The paper does not say how it was measured;
      the text reads it as the deployed footprint (Sec. 1: "When deployed, our smallest
      Guanaco model (7B parameters) requires just 5 GB of memory"; Sec. 5.3: "Guanaco 7B
      easily fits on modern phones at a 5 GB footprint").  The 16-bit rows of the same
      column are 2 bytes x parameters (Vicuna 13B: 26 GB, Open Assistant 33B: 66 GB).
    * ``size_gb`` -- Table 1, column "Size".  Same as ``memory_gb`` except Guanaco 7B,
      which Table 1 prints as 6 GB and Table 6 (and the text) as 5 GB.
    * ``elo`` / ``elo_ci`` -- Table 1: Elo of a tournament on the Vicuna benchmark (80
      prompts) judged by GPT-4, averaged over 10,000 random orderings, +- 95 % CI.  (Table 7,
      GPT-4 / Vicuna column, prints 913 instead of 916 for Guanaco 13B; we keep Table 1.)
    * ``vicuna_chatgpt_first`` / ``vicuna_system_first`` / ``vicuna_mean`` / ``vicuna_ci`` --
      Table 6: GPT-4 scores each response out of 10; the model's total as a percentage of
      ChatGPT's, with ChatGPT's answer shown first ("ChatGPT vs Sys"), the model's first
      ("Sys vs ChatGPT"), their mean, and the 95 % CI half-width, all in percent.
    * ``mmlu`` -- Table 5, row "Guanaco (OASST1)": MMLU 5-shot test accuracy in percent.
    """

    name: str
    shape: TransformerShape
    model_bits: int
    memory_gb: float
    size_gb: float
    elo: int
    elo_ci: int
    vicuna_chatgpt_first: float
    vicuna_system_first: float
    vicuna_mean: float
    vicuna_ci: float
    mmlu: float


GUANACO_RESULTS: tuple[GuanacoResult, ...] = (
    GuanacoResult("Guanaco 7B", LLAMA_7B, 4, 5, 6, 879, 1, 84.1, 89.8, 87.0, 5.4, 36.6),
    GuanacoResult("Guanaco 13B", LLAMA_13B, 4, 10, 10, 916, 1, 87.3, 93.4, 90.4, 5.2, 46.4),
    GuanacoResult("Guanaco 33B", LLAMA_33B, 4, 21, 21, 992, 1, 96.5, 99.2, 97.8, 4.4, 57.0),
    GuanacoResult("Guanaco 65B", LLAMA_65B, 4, 41, 41, 1022, 1, 96.7, 101.9, 99.3, 4.4, 62.2),
)
"""Guanaco rows of QLoRA (arXiv 2305.14314) Tables 1, 5 and 6, smallest model first.

Reference rows of the same tables (not Guanaco): Table 1 Elo GPT-4 1348, ChatGPT 966,
Bard 902, Vicuna 13B 974; Table 6 GPT-4 114.5 %, Bard 94.8 %, Vicuna 13B 94.9 % (26 GB).
"""

QLORA_7B_4BIT_BASE_MB: int = 5048
"""QLoRA Sec. 2: for LLaMA 7B trained on FLAN v2 with batch size 1, "the 4-bit base model
consumes 5,048 MB of memory" (measured; the paper does not say whether MB is 1e6 or 2**20)."""


@dataclass(frozen=True)
class MemoryComparison:
    """Published Guanaco memory next to our byte accounting, in GB (1e9 bytes).

    ``predicted_gb`` is ``qlora_memory(shape, 64, "all linear").total_gb``: model states of
    QLoRA training (NF4 weights + constants, bf16 embeddings / lm_head, fp32 norms, bf16
    adapters and their gradients, two fp32 Adam moments), no activations.
    ``predicted_deployed_gb`` keeps only what inference needs: quantized base + adapter
    weights.  ``predicted_base_gb`` is the 4-bit base alone.
    """

    name: str
    published_gb: float
    predicted_gb: float
    predicted_deployed_gb: float
    predicted_base_gb: float

    @property
    def difference_gb(self) -> float:
        """Published minus predicted model states (negative: we predict more)."""
        return self.published_gb - self.predicted_gb

    @property
    def ratio(self) -> float:
        """Published / predicted model states."""
        return self.published_gb / self.predicted_gb


def predicted_vs_published(
    results: tuple[GuanacoResult, ...] = GUANACO_RESULTS, rank: int = 64
) -> tuple[MemoryComparison, ...]:
    """Table 6 "Memory" of each Guanaco model next to :func:`qlora_memory` (r=64, all linear).

    Modelled: every byte of the model states listed in :class:`MemoryComparison`.  Not
    modelled: activations, the bf16 copy of each weight dequantized for its matmul, CUDA
    context, allocator fragmentation, and whatever the authors' measurement included.  The
    paper gives no breakdown of its numbers, and they look like deployment footprints
    (see :class:`GuanacoResult`): for all four sizes the published number lies between our
    deployed footprint (base + adapters, 4.2 / 7.7 / 18.4 / 36.1 GB) and our full training
    model states (5.8 / 10.2 / 23.3 / 44.1 GB), so it matches neither reading exactly.
    """
    out = []
    for r in results:
        b = qlora_memory(r.shape, rank, ALL_LINEAR)
        base = b.weights + b.quantization_constants
        out.append(MemoryComparison(
            name=r.name,
            published_gb=float(r.memory_gb),
            predicted_gb=b.total_gb,
            predicted_deployed_gb=(base + b.adapter_weights) / GB,
            predicted_base_gb=base / GB,
        ))
    return tuple(out)


# ================================================================ 2. activation memory
# (numerics.activations)


def qlora_training_memory(
    shape: TransformerShape, batch: int, seq_len: int, rank: int = 64, checkpointing: bool = True
) -> MemoryBreakdown:
    """:func:`qlora_memory` (Guanaco defaults) with its ``activations`` field filled in."""
    return dataclasses.replace(qlora_memory(shape, rank, ALL_LINEAR),
                               activations=activation_bytes(shape, batch, seq_len, checkpointing))


# ======================================================= 3. paged optimizer simulation


@dataclass(frozen=True, eq=False)
class PagingSimulation:
    """GPU memory of a QLoRA run, step by step, without and with a paged optimizer (bytes).

    Arrays have one entry per step.  ``oom_step`` is the first step whose demand exceeds
    ``capacity_bytes`` (the run without paging stops there), or None.  With paging,
    ``paged_bytes = max(0, demand - capacity)`` of optimizer state is evicted to CPU RAM and
    ``resident_bytes = min(demand, capacity)``; ``paging_oom_step`` is the first step whose
    overflow exceeds ``pageable_bytes`` (the run stops there too), or None.  Entries at and
    after a failing step show what that step would have needed.
    """

    steps: np.ndarray  # (n,) 0, 1, ..., n-1
    seq_lens: np.ndarray  # (n,) padded length of each step's micro-batch, tokens
    batch: int
    static: MemoryBreakdown  # QLoRA model states (activations = 0)
    static_bytes: float
    pageable_bytes: float  # the adapter optimizer states (two fp32 Adam moments)
    activation_bytes: np.ndarray  # (n,)
    demand_bytes: np.ndarray  # (n,) static + activations
    capacity_bytes: float
    oom_step: int | None
    resident_bytes: np.ndarray  # (n,) with paging
    paged_bytes: np.ndarray  # (n,) with paging
    paging_oom_step: int | None
    oom_seq_len: int  # shortest padded length that no longer fits without paging (context + 1: none)
    assumptions: dict = field(default_factory=dict)

    @property
    def static_parts(self) -> dict[str, float]:
        """Non-zero model-state components in bytes."""
        return {k: v for k, v in self.static.as_dict().items() if v}

    @property
    def n_oom_steps(self) -> int:
        """Number of steps whose demand exceeds the capacity."""
        return int(np.count_nonzero(self.demand_bytes > self.capacity_bytes))


def _first(mask: np.ndarray) -> int | None:
    """Index of the first True entry, or None."""
    return int(np.argmax(mask)) if mask.any() else None


def sample_seq_lens(
    steps: int, batch: int, seed: int, median: float, sigma: float, max_len: int
) -> np.ndarray:
    """Padded length per step: max over ``batch`` log-normal lengths, rounded, clipped to [1, max_len]."""
    rng = np.random.default_rng(seed)
    raw = rng.lognormal(mean=np.log(median), sigma=sigma, size=(steps, batch))
    return np.clip(np.rint(raw), 1, max_len).astype(np.int64).max(axis=1)


def simulate_paging(
    shape: TransformerShape = LLAMA_33B,
    gpu: str = "RTX 3090",
    batch: int = 1,
    steps: int = 1000,
    seed: int = 0,
    median_seq_len: float = 400.0,
    sigma: float = 0.6,
    rank: int = 64,
    checkpointing: bool = True,
    capacity_bytes: float | None = None,
) -> PagingSimulation:
    """Simulate GPU memory over ``steps`` QLoRA steps whose sequence lengths vary.

    Default scenario: Guanaco-style QLoRA of LLaMA-33B (r = 64 on all linear layers, NF4 +
    double quantization, gradient checkpointing) on a 24 GB RTX 3090, micro-batch 1.  The
    model states take 23.27 GB of the card's 25.77 GB, which leaves room for the
    activations of sequences up to 1569 tokens; longer ones need up to 1.0 GB more (at the
    2048-token context), while the pageable optimizer states are 3.9 GB -- so the run
    without paging dies at the first long sequence, and with paging it never does.  This is
    QLoRA's claim: paged optimizers handle "memory spikes during gradient checkpointing
    when processing a mini-batch with a long sequence length" (Sec. 1, 3) and "are critical
    to do 33B/65B QLoRA tuning on a single 24/48GB GPU" (Sec. 4).

    Sequence lengths are an assumption, not data: each sample's length is log-normal with
    the given median and ``sigma`` (of the log), rounded and clipped to [1, context], and a
    micro-batch is padded to its longest sample (qlora.py ``pad_sequence``).  The released
    Guanaco scripts truncate to 16 + 512 tokens, where no spike could occur; the scenario
    is a run that uses the model's full 2048-token context.

    ``capacity_bytes`` defaults to the card's total from nvidia-smi
    (:func:`numerics.memory.gpu_capacity_bytes`); CUDA context, allocator fragmentation and
    the other terms listed in :func:`activation_terms` are not subtracted, so a real card
    has less room than modelled.  CPU RAM is assumed large enough for the evicted pages.
    """
    if batch < 1 or steps < 1:
        raise ValueError(f"batch and steps must be >= 1, got batch={batch}, steps={steps}")
    static = qlora_memory(shape, rank, ALL_LINEAR)
    capacity = float(gpu_capacity_bytes(gpu) if capacity_bytes is None else capacity_bytes)
    seq_lens = sample_seq_lens(steps, batch, seed, median_seq_len, sigma, shape.context_length)
    acts = np.asarray(activation_bytes(shape, batch, seq_lens, checkpointing), dtype=float)
    demand = static.total + acts
    overflow = demand - capacity
    paged = np.maximum(0.0, overflow)
    resident = demand - paged
    pageable = static.adapter_optimizer_states

    all_lens = np.arange(1, shape.context_length + 1)
    too_long = static.total + np.asarray(activation_bytes(shape, batch, all_lens, checkpointing)) > capacity
    oom_seq_len = int(all_lens[too_long][0]) if too_long.any() else shape.context_length + 1

    assumptions = {
        "model": shape.name,
        "gpu": gpu,
        "capacity_bytes": capacity,
        "capacity_source": "nvidia-smi total (MiB), numerics.memory.GPU_REPORTED_MIB"
        if capacity_bytes is None else "given",
        "method": f"QLoRA r={rank}, all linear layers, NF4 + double quantization, bf16 adapters, "
                  "paged 32-bit AdamW (two fp32 moments)",
        "micro_batch": batch,
        "steps": steps,
        "seed": seed,
        "seq_len_distribution": f"log-normal per sample, median {median_seq_len:g}, sigma {sigma:g}, "
                                f"rounded, clipped to [1, {shape.context_length}]; micro-batch padded "
                                "to its longest sample",
        "checkpointing": checkpointing,
        "activations": "Korthikanti et al. 2022 (arXiv 2205.05198) Eq. 1 as published: 2sbhL checkpoints "
                       "+ one recomputed layer sbh(34 + 5as/h) + 5sbh + 4sbv" if checkpointing else
                       "Korthikanti et al. 2022 Eq. 1 as published: L sbh(34 + 5as/h) + 5sbh + 4sbv",
        "pageable": "adapter optimizer states only (QLoRA Sec. 3: paged memory for the optimizer states)",
        "paging_rule": "resident = min(demand, capacity); paged = max(0, demand - capacity); "
                       "fails if paged > pageable",
        "not_modelled": "CUDA context, allocator fragmentation, dequantized bf16 weight buffers, LoRA "
                        "activations, paging transfer time",
        "static_bytes": static.total,
        "pageable_bytes": pageable,
        "oom_seq_len": oom_seq_len,
    }
    return PagingSimulation(
        steps=np.arange(steps),
        seq_lens=seq_lens,
        batch=batch,
        static=static,
        static_bytes=static.total,
        pageable_bytes=pageable,
        activation_bytes=acts,
        demand_bytes=demand,
        capacity_bytes=capacity,
        oom_step=_first(overflow > 0),
        resident_bytes=resident,
        paged_bytes=paged,
        paging_oom_step=_first(paged > pageable),
        oom_seq_len=oom_seq_len,
        assumptions=assumptions,
    )
