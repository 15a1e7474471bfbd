"""Facts from papers and vendors, each cited where it is defined: the tables and constants the
figures reproduce (published results, recipes, hyperparameters). Values only: no computation
beyond arranging them, and nothing here imports matplotlib.
"""
