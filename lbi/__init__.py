"""lbi: turn an environment's documentation into LLM-agent training data (Learn-by-interact)."""

__version__ = "0.1.0"
