"""QLoRA's training memory step by step: the model states of :func:`numerics.memory.qlora_memory`
plus the activations of :mod:`numerics.activations`, and a simulation of GPU memory over the
micro-batches of a run whose sequence lengths vary, without and with QLoRA's paged optimizer.

The simulation reproduces a published setup, the released Guanaco 33B recipe, and therefore
counts the adapters as that code trains them (:data:`numerics.memory.QLORA_ADAPTER_RECIPE`,
bf16 adapters with 32-bit paged AdamW: 12 bytes per adapter parameter), not with the book's
16-byte accounting (:data:`BOOK_ACCOUNTING`); a figure that shows it names both.

Sources
-------
* QLoRA: Dettmers, Pagnoni, Holtzman, Zettlemoyer 2023, "QLoRA: Efficient Finetuning of
  Quantized LLMs", arXiv 2305.14314.  Sec. 3 "Paged Optimizers", Sec. 5.1 ("we use NF4 QLoRA
  with double quantization and paged optimizers to prevent memory spikes during gradient
  checkpointing").
* Activations: Korthikanti et al. 2022, arXiv 2205.05198, as published (see
  :mod:`numerics.activations`).
* artidoro/qlora (the released code): ``scripts/finetune_guanaco_33b.sh``
  (``--bf16``, ``--gradient_checkpointing``, ``--group_by_length``,
  ``--per_device_train_batch_size 4``, ``--gradient_accumulation_steps 4``,
  ``--source_max_len 16``, ``--target_max_len 512``); ``qlora.py``: paged 32-bit AdamW,
  ``DataCollatorForCausalLM`` truncates to 16 + 512 tokens and pads every micro-batch to its
  longest sequence (``pad_sequence``); with ``--group_by_length`` the samples carry their
  length and transformers' ``LengthGroupedSampler`` (``trainer_pt_utils``) orders them: the
  sampler is built with batch size ``train_batch_size * gradient_accumulation_steps``, splits a
  random permutation into mega-batches of 50 such batches, sorts each by length (longest first)
  and moves the longest sample of all to the very front.

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
    MIXED_PRECISION_ADAM,
    QLORA_ADAPTER_RECIPE,
    MemoryBreakdown,
    TrainingRecipe,
    TransformerShape,
    gpu_capacity_bytes,
    qlora_memory,
)
from published.qlora import GUANACO_RANK

BOOK_ACCOUNTING: TrainingRecipe = MIXED_PRECISION_ADAM
"""The book's one accounting, 2 + 2 + 12 = 16 bytes per trained parameter (ZeRO): the QLoRA
totals of :func:`numerics.memory.compare_methods` (LLaMA-33B: 25.2 GB).  The default of the
model-state functions below."""

RELEASED_RECIPE: TrainingRecipe = QLORA_ADAPTER_RECIPE
"""How the released QLoRA code trains the adapters (bf16 adapters and gradients, 32-bit paged
AdamW moments: 12 bytes per adapter parameter; LLaMA-33B model states 23.3 GB): the default of
:func:`simulate_paging`, which reproduces the released recipe."""
RELEASED_BATCH = 4  # --per_device_train_batch_size 4
RELEASED_ACCUMULATION = 4  # --gradient_accumulation_steps 4
RELEASED_MAX_LEN = 16 + 512  # --source_max_len 16 + --target_max_len 512
MEGA_BATCH_MULT = 50  # LengthGroupedSampler: batches per mega-batch (min(n // (4 batch), 50))


def qlora_model_states(shape: TransformerShape, rank: int = GUANACO_RANK,
                       adapter_recipe: TrainingRecipe = BOOK_ACCOUNTING) -> MemoryBreakdown:
    """QLoRA's model states (Guanaco: ``rank`` on all linear layers, NF4 + double quantization),
    the adapters trained with ``adapter_recipe``; activations 0."""
    return qlora_memory(shape, rank, ALL_LINEAR, adapter_recipe=adapter_recipe)


def qlora_training_memory(
    shape: TransformerShape, batch: int, seq_len: int, rank: int = GUANACO_RANK,
    checkpointing: bool = True, adapter_recipe: TrainingRecipe = BOOK_ACCOUNTING,
) -> MemoryBreakdown:
    """:func:`qlora_model_states` with its ``activations`` field filled in."""
    return dataclasses.replace(qlora_model_states(shape, rank, adapter_recipe),
                               activations=activation_bytes(shape, batch, seq_len, checkpointing))


def demand_by_length(shape: TransformerShape, static_bytes: float, batch: int = 1,
                     checkpointing: bool = True, max_len: int | None = None,
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(lengths, bytes): the memory a step needs, model states ``static_bytes`` + activations,
    for every padded sequence length 1 ... ``max_len`` (default: the context length)."""
    lengths = np.arange(1, (shape.context_length if max_len is None else max_len) + 1)
    acts = np.asarray(activation_bytes(shape, batch, lengths, checkpointing), dtype=float)
    return lengths, static_bytes + acts


def first_length_over(shape: TransformerShape, static_bytes: float, capacity_bytes: float,
                      batch: int = 1, checkpointing: bool = True,
                      max_len: int | None = None) -> int:
    """The shortest padded sequence length whose step no longer fits: model states
    ``static_bytes`` + activations > ``capacity_bytes`` (``max_len`` + 1, default context
    length + 1, when every length fits)."""
    lengths, demand = demand_by_length(shape, static_bytes, batch, checkpointing, max_len)
    too_long = demand > capacity_bytes
    return int(lengths[too_long][0]) if too_long.any() else int(lengths[-1]) + 1


@dataclass(frozen=True, eq=False)
class PagingSimulation:
    """GPU memory of a QLoRA run, step by step, without and with a paged optimizer (bytes).

    Arrays have one entry per step.  ``oom_step`` is the first step whose demand exceeds
    ``capacity_bytes`` (the run without paging stops there), or None.  With paging,
    ``paged_bytes = max(0, demand - capacity)`` of optimizer state is evicted to CPU RAM and
    ``resident_bytes = min(demand, capacity)``; ``paging_oom_step`` is the first step whose
    overflow exceeds ``pageable_bytes`` (the run stops there too), or None.  Entries at and
    after a failing step show what that step would have needed.  ``oom_seq_len`` is the
    shortest padded length that no longer fits without paging (``max_len`` + 1: none).
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
    oom_seq_len: int  # shortest padded length that does not fit (max_len + 1: none)
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


def grouped_seq_lens(
    steps: int, batch: int, seed: int, median: float, sigma: float, max_len: int,
    group_batch: int, mega_batch_mult: int = MEGA_BATCH_MULT,
) -> np.ndarray:
    """Padded length per micro-batch when transformers' ``LengthGroupedSampler`` orders the
    samples (Trainer ``--group_by_length``): ``steps * batch`` log-normal sample lengths in
    random order are split into mega-batches of ``mega_batch_mult * group_batch`` samples, each
    sorted longest first, the longest sample of all is swapped to the very front, the samples
    are truncated to [1, ``max_len``] and every ``batch`` consecutive samples are padded to
    their longest.  (The released code sorts by characters, before truncation; the sketch
    sorts by the untruncated token length.)"""
    rng = np.random.default_rng(seed)
    raw = rng.lognormal(mean=np.log(median), sigma=sigma, size=steps * batch)
    size = mega_batch_mult * group_batch
    megas = [start + np.argsort(-raw[start:start + size], kind="stable")
             for start in range(0, len(raw), size)]
    longest = int(np.argmax([raw[mega[0]] for mega in megas]))
    megas[0][0], megas[longest][0] = megas[longest][0], megas[0][0]
    lengths = np.clip(np.rint(raw[np.concatenate(megas)]), 1, max_len).astype(np.int64)
    return lengths.reshape(steps, batch).max(axis=1)


def simulate_paging(
    shape: TransformerShape = LLAMA_33B,
    gpu: str = "RTX 4090",
    batch: int = RELEASED_BATCH,
    steps: int = 1000,
    seed: int = 0,
    median_seq_len: float = 400.0,
    sigma: float = 0.6,
    rank: int = GUANACO_RANK,
    checkpointing: bool = True,
    capacity_bytes: float | None = None,
    adapter_recipe: TrainingRecipe = RELEASED_RECIPE,
    max_len: int | None = RELEASED_MAX_LEN,
    group_by_length: bool = True,
    accumulation: int = RELEASED_ACCUMULATION,
) -> PagingSimulation:
    """Simulate GPU memory over ``steps`` QLoRA micro-batches whose sequence lengths vary.

    Default scenario: the released Guanaco 33B recipe (``finetune_guanaco_33b.sh``): QLoRA of
    LLaMA-33B (r = 64 on all linear layers, NF4 + double quantization, gradient
    checkpointing, bf16 adapters with paged 32-bit AdamW, 12 bytes per adapter parameter),
    micro-batch 4, samples truncated to 16 + 512 = 528 tokens, ``--group_by_length``, on a
    24 GiB RTX 4090.  The model states take 23.27 GB of the card's 25.76 GB, which leaves
    2.49 GB, room for the activations of micro-batches padded to up to 475 tokens; at 528
    tokens a step needs 0.30 GB more, while the pageable optimizer states are 3.9 GB -- so
    without paging the run dies at its first step (the sampler puts the longest micro-batch
    first), and with paging it never does.  This is QLoRA's claim: paged optimizers handle
    "memory spikes during gradient checkpointing when processing a mini-batch with a long
    sequence length" (Sec. 1, 3).  (Under the book's 16-byte accounting the same model
    states are 25.2 GB.)

    Sequence lengths are an assumption, not data: each sample's length is log-normal with
    the given median and ``sigma`` (of the log), rounded and truncated to [1, ``max_len``]
    (None: the context length), and a micro-batch is padded to its longest sample (qlora.py
    ``pad_sequence``).  With ``group_by_length`` the samples are ordered as
    :func:`grouped_seq_lens` describes, the sampler's batch being ``batch * accumulation``;
    without, :func:`sample_seq_lens` (random order).

    ``capacity_bytes`` defaults to the card's total from nvidia-smi
    (:func:`numerics.memory.gpu_capacity_bytes`); CUDA context, allocator fragmentation and
    the other terms listed in :func:`numerics.activations.activation_terms` are not
    subtracted, so a real card has less room than modelled.  CPU RAM is assumed large enough
    for the evicted pages.
    """
    if batch < 1 or steps < 1:
        raise ValueError(f"batch and steps must be >= 1, got batch={batch}, steps={steps}")
    static = qlora_model_states(shape, rank, adapter_recipe)
    capacity = float(gpu_capacity_bytes(gpu) if capacity_bytes is None else capacity_bytes)
    if max_len is None:
        max_len = shape.context_length
    if group_by_length:
        seq_lens = grouped_seq_lens(steps, batch, seed, median_seq_len, sigma, max_len,
                                    batch * accumulation)
    else:
        seq_lens = sample_seq_lens(steps, batch, seed, median_seq_len, sigma, max_len)
    acts = np.asarray(activation_bytes(shape, batch, seq_lens, checkpointing), dtype=float)
    demand = static.total + acts
    overflow = demand - capacity
    paged = np.maximum(0.0, overflow)
    resident = demand - paged
    pageable = static.adapter_optimizer_states

    oom_seq_len = first_length_over(shape, static.total, capacity, batch, checkpointing,
                                    max_len)

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
        "method": f"QLoRA r={rank}, all linear layers, NF4 + double quantization, adapters "
                  f"at {adapter_recipe.bytes_per_param:g} bytes per parameter "
                  f"({adapter_recipe.name}), paged AdamW",
        "accounting": adapter_recipe.name,
        "micro_batch": batch,
        "steps": steps,
        "seed": seed,
        "median_seq_len": median_seq_len,
        "seq_len_distribution": f"log-normal per sample, median {median_seq_len:g}, "
                                f"sigma {sigma:g}, rounded, truncated to [1, {max_len}]; "
                                "micro-batch padded to its longest sample",
        "max_len": max_len,
        "order": f"group_by_length (LengthGroupedSampler, batch {batch * accumulation}, "
                 f"mega-batches of {MEGA_BATCH_MULT})" if group_by_length else "random",
        "checkpointing": checkpointing,
        "activations": activations,
        "pageable": "adapter optimizer states only (QLoRA Sec. 3: paged memory for the "
                    "optimizer states: the two fp32 Adam moments, plus the fp32 master copy "
                    "under the book's 16-byte accounting)",
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
