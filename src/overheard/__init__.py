"""Overheard: the human-review loop of a voice assistant, with its privacy promises enforced."""

__version__ = "0.1.0"
