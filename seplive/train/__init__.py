"""Training seplive's separation models: configs, architectures, losses, the loop.

- :func:`seplive.train.config.load_config`: a TOML training config, validated.
- :mod:`seplive.models.architectures`: name -> builder; ``register()`` adds one.
- :func:`seplive.train.losses.separation_loss`: thresholded SNR + inactive + category PIT.
- :func:`seplive.train.trainer.train`: the loop (single process or torchrun/DDP).
- :func:`seplive.models.weights.load_model`: a trained checkpoint + sidecar -> model.
"""
