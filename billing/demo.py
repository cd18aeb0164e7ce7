"""Realistic demo data (being built)."""


def load() -> str:
    raise NotImplementedError("demo data is not written yet")
