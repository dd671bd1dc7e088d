"""seplive's tests: unit/ (in-process, no audio servers, no wall-clock deadlines) and
devices/ (virtual audio servers, paced real-time sessions); support/ holds their helpers."""
