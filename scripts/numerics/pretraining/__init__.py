"""The pre-training chapter's computations: the shipped corpus, scaling laws and training
compute, byte-pair encoding, and the tiny language model's experiments."""
