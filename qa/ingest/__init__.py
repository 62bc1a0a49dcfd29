"""Ingest: raw pages and JSONL articles → Article → Chunk."""
