"""QLoRA's training memory step by step: the model states of :func:`numerics.memory.qlora_memory`
plus the activations of :mod:`numerics.activations`, and a simulation of GPU memory over training
steps whose sequence lengths vary, without and with QLoRA's paged optimizer.

Sources
-------
* QLoRA: Dettmers, Pagnoni, Holtzman, Zettlemoyer 2023, "QLoRA: Efficient Finetuning of
  Quantized LLMs", arXiv 2305.14314.  Sec. 3 "Paged Optimizers", Sec. 5.1 ("we use NF4 QLoRA
  with double quantization and paged optimizers to prevent memory spikes during gradient
  checkpointing").
* Activations: Korthikanti et al. 2022, arXiv 2205.05198, as published (see
  :mod:`numerics.activations`).
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

from numerics.activations import activation_bytes
from numerics.memory import (
    ALL_LINEAR,
    LLAMA_33B,
    MemoryBreakdown,
    TransformerShape,
    gpu_capacity_bytes,
    qlora_memory,
)
from published.qlora import GUANACO_RANK


def qlora_training_memory(
    shape: TransformerShape, batch: int, seq_len: int, rank: int = GUANACO_RANK,
    checkpointing: bool = True,
) -> MemoryBreakdown:
    """:func:`qlora_memory` (Guanaco defaults) with its ``activations`` field filled in."""
    return dataclasses.replace(qlora_memory(shape, rank, ALL_LINEAR),
                               activations=activation_bytes(shape, batch, seq_len, checkpointing))


@dataclass(frozen=True, eq=False)
class PagingSimulation:
    """GPU memory of a QLoRA run, step by step, without and with a paged optimizer (bytes).

    Arrays have one entry per step.  ``oom_step`` is the first step whose demand exceeds
    ``capacity_bytes`` (the run without paging stops there), or None.  With paging,
    ``paged_bytes = max(0, demand - capacity)`` of optimizer state is evicted to CPU RAM and
    ``resident_bytes = min(demand, capacity)``; ``paging_oom_step`` is the first step whose
    overflow exceeds ``pageable_bytes`` (the run stops there too), or None.  Entries at and
    after a failing step show what that step would have needed.  ``oom_seq_len`` is the
    shortest padded length that no longer fits without paging (context length + 1: none).
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
    oom_seq_len: int
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
    """Padded length per step: the longest of ``batch`` log-normal lengths, rounded and clipped
    to [1, max_len]."""
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
    rank: int = GUANACO_RANK,
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
    the other terms listed in :func:`numerics.activations.activation_terms` are not
    subtracted, so a real card has less room than modelled.  CPU RAM is assumed large enough
    for the evicted pages.
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
    all_acts = np.asarray(activation_bytes(shape, batch, all_lens, checkpointing))
    too_long = static.total + all_acts > capacity
    oom_seq_len = int(all_lens[too_long][0]) if too_long.any() else shape.context_length + 1

    if checkpointing:
        activations = ("Korthikanti et al. 2022 (arXiv 2205.05198) Eq. 1 as published: 2sbhL "
                       "checkpoints + one recomputed layer sbh(34 + 5as/h) + 5sbh + 4sbv")
    else:
        activations = ("Korthikanti et al. 2022 Eq. 1 as published: "
                       "L sbh(34 + 5as/h) + 5sbh + 4sbv")
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
        "median_seq_len": median_seq_len,
        "seq_len_distribution": f"log-normal per sample, median {median_seq_len:g}, "
                                f"sigma {sigma:g}, rounded, clipped to "
                                f"[1, {shape.context_length}]; micro-batch padded to its "
                                "longest sample",
        "checkpointing": checkpointing,
        "activations": activations,
        "pageable": "adapter optimizer states only (QLoRA Sec. 3: paged memory for the "
                    "optimizer states)",
        "paging_rule": "resident = min(demand, capacity); paged = max(0, demand - capacity); "
                       "fails if paged > pageable",
        "not_modelled": "CUDA context, allocator fragmentation, dequantized bf16 weight buffers, "
                        "LoRA activations, paging transfer time",
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
