"""Batch evaluation of newsqa against a gold set of questions."""
