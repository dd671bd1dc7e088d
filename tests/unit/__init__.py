"""In-process tests: no audio servers, no wall-clock deadlines."""
