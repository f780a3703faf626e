"""The pipeline's stages, one module each.

Each stage exposes one function that takes its config section and what it needs from the
stages before it, logs what it does, and hands back its typed record (see `record.py`).
`Pipeline` and the compression sweep call the same functions; only `pipeline.py` knows
their order.
"""
