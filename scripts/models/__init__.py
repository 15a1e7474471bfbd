"""numpy models with hand-written backpropagation, each tested against finite differences.

Nothing here imports matplotlib.
"""
