"""seplive: live, prompt-driven source separation."""

__version__ = "0.1.0"
