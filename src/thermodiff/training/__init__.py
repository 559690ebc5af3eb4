"""Training: the loop (``loop``), its settings (``config``), the moving average (``ema``), which
weights to keep (``selection``), checkpoints (``checkpoint``) and torchrun + DDP (``distributed``).

Nothing is imported here, so that ``training.config`` and ``training.checkpoint`` can be used
without the loop."""
