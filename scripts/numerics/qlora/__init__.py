"""Numerics of the QLoRA topic: the 4-bit data types NF4, FP4 and INT4 with blockwise absmax
and double quantization, simulated as bitsandbytes does them (`quantization`); QLoRA's training
memory step by step and the paged-optimizer simulation (`paging`); and the published memory of
the Guanaco models next to our byte accounting (`guanaco_memory`). The paper's own numbers live
in `published.qlora`. Nothing here imports matplotlib.
"""
