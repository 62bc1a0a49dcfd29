"""Embedding models: offline model installation and the embedders that use them."""
