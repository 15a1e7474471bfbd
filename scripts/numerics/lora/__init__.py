"""LoRA on the toy model (the MLP with adapters of :mod:`models.lora_mlp`), and LoRA's costs
on real transformer shapes: :mod:`~numerics.lora.data` reads the sentiment sentences and the
lexicon of data/lora/ and splits them, :mod:`~numerics.lora.training` pre-trains the base and
fine-tunes it with LoRA or in full, :mod:`~numerics.lora.experiments` runs the experiments the
figures show, and :mod:`~numerics.lora.costs` holds the formulas for the trainable parameters of
LoRA and its variants and the operations adapters add at inference. Nothing here imports
matplotlib.
"""
