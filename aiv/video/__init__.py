"""Clips: reading, writing and the built-in corpus, always as 8-bit 4:2:0 planes."""
