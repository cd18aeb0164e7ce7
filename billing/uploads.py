"""Uploaded files (logo, terms PDF): stored under random names in UPLOAD_FOLDER.

A stored name is `<32 hex digits>.<extension>`; only such a name resolves
back to a path, so a name read from the database can never point elsewhere.
"""

from __future__ import annotations

import re
import secrets
import warnings
from pathlib import Path
from typing import IO

from flask import current_app
from flask_babel import gettext as _
from PIL import Image
from werkzeug.datastructures import FileStorage

MIMETYPES = {"png": "image/png", "jpg": "image/jpeg", "pdf": "application/pdf"}
_IMAGE_FORMATS = {"PNG": "png", "JPEG": "jpg"}
_STORED_NAME = re.compile(r"[0-9a-f]{32}\.(png|jpg|pdf)")


class UploadError(Exception):
    """A reason, in French, why an uploaded file was refused."""


def folder() -> Path:
    return Path(current_app.config["UPLOAD_FOLDER"])


def image_extension(stream: IO[bytes]) -> str:
    """« png » or « jpg » when the stream really decodes as a PNG or JPEG image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(stream) as image:
                kind = image.format
                image.verify()
    except Exception as error:  # Pillow raises many kinds for a broken file
        raise UploadError(_("Image illisible : envoyez un fichier PNG ou JPEG valide.")) from error
    finally:
        stream.seek(0)
    if kind not in _IMAGE_FORMATS:
        raise UploadError(_("Type de fichier refusé : PNG ou JPEG attendu."))
    return _IMAGE_FORMATS[kind]


def save(upload: FileStorage, extension: str) -> str:
    """Store the upload under a new random name; returns that name."""
    if extension not in MIMETYPES:
        raise ValueError(f"Extension not allowed: {extension}")
    name = f"{secrets.token_hex(16)}.{extension}"
    folder().mkdir(parents=True, exist_ok=True)
    upload.stream.seek(0)
    upload.save(folder() / name)
    return name


def path(name: str | None) -> Path:
    """The file of a stored name; FileNotFoundError for anything else."""
    if not name or not _STORED_NAME.fullmatch(name):
        raise FileNotFoundError(name)
    found = folder() / name
    if not found.is_file():
        raise FileNotFoundError(name)
    return found


def mimetype(name: str) -> str:
    return MIMETYPES[name.rsplit(".", 1)[-1]]


def delete(name: str | None) -> None:
    """Remove a stored file; unknown or already removed names are ignored."""
    if name and _STORED_NAME.fullmatch(name):
        (folder() / name).unlink(missing_ok=True)
