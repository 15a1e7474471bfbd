"""Numerics of the QLoRA topic: the 4-bit data types NF4, FP4 and INT4 with blockwise absmax
and double quantization, simulated as bitsandbytes does them (`quantization`); and QLoRA's
training memory step by step with the paged-optimizer simulation, under the book's one byte
accounting (`paging`). The paper's own numbers live in `published.qlora`. Nothing here imports
matplotlib.
"""
