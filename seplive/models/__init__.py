"""Separation plugins: the contract, the registry, DSP separators and neural models."""

from .base import Separator, SeparatorError
from .registry import available, create, register

__all__ = ["Separator", "SeparatorError", "available", "create", "register"]
