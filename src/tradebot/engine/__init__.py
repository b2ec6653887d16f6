"""The engine: the per-user live loop and (later) the multi-user engine service."""
