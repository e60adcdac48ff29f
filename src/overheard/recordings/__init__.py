"""Recordings: ingest, the content gate, deletion and retention."""
