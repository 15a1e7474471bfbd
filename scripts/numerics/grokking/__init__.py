"""Numerics of the grokking topic: measurements on recorded grokking runs (`analysis`): when
training and validation accuracy cross their thresholds, the phases of training located with a
sigmoid fitted against log(step), the window where the generalization gap is wide, the peak of
the parameter norm, and the Fourier structure of learned embeddings. The models and the
training code that record the runs are `models.modular` and `models.transformer`. Nothing here
imports matplotlib.
"""
