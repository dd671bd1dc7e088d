"""Scoring separators: SI-SDR / SDR improvement per prompt, offline and through the engine."""
