"""Answering: extractive quotes, answer types, prompts, generation, grounding and the answer policy."""
