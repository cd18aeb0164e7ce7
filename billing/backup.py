"""Backups (being built)."""


class NotABackup(Exception):
    pass


def create(app, file):
    raise NotImplementedError


def restore(app, file):
    raise NotImplementedError
