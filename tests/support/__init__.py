"""Helpers the tests (and bench/) import: virtual audio servers, the soak run, OSC peers,
a toy training source, the repository's paths."""
