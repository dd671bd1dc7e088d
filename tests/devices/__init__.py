"""Tests that start audio servers (PulseAudio, JACK, a tmux terminal) or run paced
real-time sessions; all carry the ``devices`` marker (devices/conftest.py)."""
