"""The memory of the Guanaco models as QLoRA publishes it (Table 6, column "Memory") next to
what our byte accounting (:func:`numerics.memory.qlora_memory`) predicts for the same models.

Units: GB = 1e9 bytes (:data:`numerics.memory.GB`).
"""
from __future__ import annotations

from dataclasses import dataclass

from numerics.memory import ALL_LINEAR, GB, qlora_memory
from published.qlora import GUANACO_RANK, GUANACO_RESULTS, GuanacoResult


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
    results: tuple[GuanacoResult, ...] = GUANACO_RESULTS, rank: int = GUANACO_RANK
) -> tuple[MemoryComparison, ...]:
    """Table 6 "Memory" of each Guanaco model next to :func:`qlora_memory` (r=64, all linear).

    Modelled: every byte of the model states listed in :class:`MemoryComparison`.  Not
    modelled: activations, the bf16 copy of each weight dequantized for its matmul, CUDA
    context, allocator fragmentation, and whatever the authors' measurement included.  The
    paper gives no breakdown of its numbers, and they look like deployment footprints
    (see :class:`published.qlora.GuanacoResult`): for all four sizes the published number lies
    between our deployed footprint (base + adapters, 4.2 / 7.7 / 18.4 / 36.1 GB) and our full
    training model states (5.8 / 10.2 / 23.3 / 44.1 GB), so it matches neither reading exactly.
    """
    out = []
    for result in results:
        breakdown = qlora_memory(result.shape, rank, ALL_LINEAR)
        base = breakdown.weights + breakdown.quantization_constants
        out.append(MemoryComparison(
            name=result.name,
            published_gb=float(result.memory_gb),
            predicted_gb=breakdown.total_gb,
            predicted_deployed_gb=(base + breakdown.adapter_weights) / GB,
            predicted_base_gb=base / GB,
        ))
    return tuple(out)
