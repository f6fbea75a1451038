"""Candidate codecs: the contract, the sandbox that runs them, and the built-in reference codecs."""
