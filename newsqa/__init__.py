"""The ``newsqa`` command: the one place that imports qa, eval and ui together."""
