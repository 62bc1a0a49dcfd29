"""The Gradio web chat (see the UI issue)."""
