"""Lexical retrieval: BM25 over Chinese words and bigrams, and English → Chinese query terms."""
