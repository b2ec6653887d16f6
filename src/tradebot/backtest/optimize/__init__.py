"""`tradebot optimize`: parameter search with walk-forward validation (docs/OPTIMIZE.md).

Kept free of imports so a worker process loading `optimize.worker` does not import Optuna.
"""
