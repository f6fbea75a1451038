"""AiV1: a lab that discovers video codecs with a language model and measures them honestly."""

__version__ = "0.1.0"
