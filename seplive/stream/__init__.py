"""Real-time plumbing: resampling, causal windowing, the engine, sources and sinks."""
