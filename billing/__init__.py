"""The domain of Facturier: models and the verbs that change them.

Nothing here knows about HTTP requests or templates. A verb flushes; the
caller (a view or a command) commits once.
"""
