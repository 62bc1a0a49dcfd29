"""Retrieval: dense, lexical and fused hybrid search over one index."""
