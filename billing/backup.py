"""Backups: the SQLite database, the uploads and the issued PDFs in one .tar.gz; restoring them.

The database is copied with SQLite's online backup API (consistent even while
the app runs, WAL included). A `manifest.json` names the format, its version,
the date, the Alembic revision and the sha256 of every file. Restore checks
the whole archive in a staging folder before it touches anything.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import zlib
from datetime import timezone
from pathlib import Path, PurePosixPath

from flask import Flask
from sqlalchemy.engine import make_url

from billing import clock
from billing.models import db

FORMAT = "facturier-backup"
VERSION = 1
MANIFEST = "manifest.json"
DATABASE = "billing.sqlite"
UPLOADS = "uploads"
PDF = "pdf"  # the PDFs as issued, one per revision: what each client received
FOLDERS = (UPLOADS, PDF)
SQLITE_HEADER = b"SQLite format 3\x00"


class BackupError(Exception):
    """A reason, in French, why a backup or a restore was refused."""


class NotABackup(BackupError):
    """The file is not a Facturier backup that can be restored safely."""


class UnsupportedDatabase(BackupError):
    """Backups only handle SQLite."""


def _folders(app: Flask) -> dict[str, Path]:
    """The instance's file folders, by their name in the archive."""
    return {UPLOADS: Path(app.config["UPLOAD_FOLDER"]), PDF: Path(app.instance_path) / PDF}


def create(app: Flask, path: Path) -> dict:
    """Write the database, the uploads and the PDFs to `path` (.tar.gz); return the manifest."""
    database = _database_path(app)
    path = Path(path).resolve()
    with tempfile.TemporaryDirectory(prefix=".backup-", dir=path.parent) as staging:
        copy = Path(staging) / DATABASE
        _sqlite_copy(database, copy)
        files = [(DATABASE, copy)]
        for name, folder in _folders(app).items():
            if folder.is_dir():
                files += [
                    (f"{name}/{file.relative_to(folder).as_posix()}", file)
                    for file in sorted(folder.rglob("*"))
                    if file.is_file() and not file.is_symlink()
                ]
        created = clock.now().replace(tzinfo=timezone.utc)
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "created_at": created.isoformat(timespec="seconds"),
            "alembic_revision": _alembic_revision(copy),
            "files": [
                {"path": name, "size": file.stat().st_size, "sha256": _sha256(file)}
                for name, file in files
            ],
        }
        partial = Path(staging) / "archive.tar.gz"
        with tarfile.open(partial, "w:gz") as archive:
            data = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(data)
            info.mtime = int(created.timestamp())
            archive.addfile(info, io.BytesIO(data))
            for name, file in files:
                archive.add(file, arcname=name, recursive=False)
        os.replace(partial, path)
    return manifest


def restore(app: Flask, path: Path) -> dict:
    """Replace the database and the uploads with those of backup `path`; return its manifest.

    Raises NotABackup, and changes nothing, unless every check passes.
    """
    database = _database_path(app)
    folders = _folders(app)
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=instance))
    try:
        manifest = _unpack(Path(path), staging)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        _replace_database(staging / DATABASE, database)
        for name, folder in folders.items():
            (staging / name).mkdir(exist_ok=True)
            _swap_folder(staging / name, folder, staging / f"previous-{name}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _swap_folder(new: Path, live: Path, old: Path) -> None:
    """Put `new` in place of `live`; if that fails, the live folder is put back."""
    live.parent.mkdir(parents=True, exist_ok=True)
    if live.exists():
        live.rename(old)
    try:
        new.rename(live)
    except OSError:
        if old.exists():
            old.rename(live)
        raise


def _database_path(app: Flask) -> Path:
    """The SQLite file of the app (relative paths are under the instance folder)."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        raise UnsupportedDatabase(
            f"Les sauvegardes ne gèrent qu'une base SQLite dans un fichier ; la base configurée "
            f"(DATABASE_URL) est « {url.get_backend_name()} ». Utilisez les outils de sauvegarde "
            f"de cette base (par exemple pg_dump) et copiez le dossier des fichiers envoyés."
        )
    return Path(app.instance_path) / url.database


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy through SQLite's online backup API, as one self-contained file."""
    if not source.is_file():
        raise BackupError(f"Aucune base de données à sauvegarder : {source} n'existe pas.")
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
        src.close()


def _alembic_revision(database: Path) -> str | None:
    connection = sqlite3.connect(database)
    try:
        return connection.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    except (sqlite3.OperationalError, TypeError):
        return None
    finally:
        connection.close()


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _refuse(reason: str) -> NotABackup:
    return NotABackup(f"Ce fichier n'est pas une sauvegarde Facturier utilisable : {reason}.")


def _unpack(path: Path, staging: Path) -> dict:
    """Check the archive and extract it into `staging`; return its manifest."""
    try:
        with tarfile.open(path, "r:gz") as archive:
            members = archive.getmembers()
            for member in members:
                _check_member(member)
            manifest = _read_manifest(archive, members)
            expected = {entry["path"]: entry["sha256"] for entry in manifest["files"]}
            found = {member.name for member in members} - {MANIFEST}
            if found - expected.keys():
                raise _refuse(f"fichier absent du manifeste : {sorted(found - expected.keys())[0]}")
            if expected.keys() - found:
                raise _refuse(f"fichier manquant : {sorted(expected.keys() - found)[0]}")
            for member in members:
                if member.name != MANIFEST:
                    _extract(archive, member, staging / member.name, expected[member.name])
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise _refuse("ce n'est pas une archive .tar.gz lisible") from error
    _check_sqlite(staging / DATABASE)
    return manifest


def _check_member(member: tarfile.TarInfo) -> None:
    name = PurePosixPath(member.name)
    if (
        name.is_absolute()
        or ".." in name.parts
        or "\\" in member.name
        or member.name != name.as_posix()
    ):
        raise _refuse(f"chemin interdit dans l'archive : {member.name}")
    if not member.isfile():
        raise _refuse(f"élément qui n'est pas un fichier : {member.name}")
    in_folder = len(name.parts) > 1 and name.parts[0] in FOLDERS
    if member.name not in (MANIFEST, DATABASE) and not in_folder:
        raise _refuse(f"fichier inattendu : {member.name}")


def _read_manifest(archive: tarfile.TarFile, members: list[tarfile.TarInfo]) -> dict:
    if MANIFEST not in {member.name for member in members}:
        raise _refuse("manifest.json manquant")
    try:
        manifest = json.loads(archive.extractfile(MANIFEST).read())
        valid = (
            manifest["format"] == FORMAT
            and manifest["version"] == VERSION
            and all(isinstance(entry["path"], str) and isinstance(entry["sha256"], str)
                    for entry in manifest["files"])
            and DATABASE in {entry["path"] for entry in manifest["files"]}
        )
    except (ValueError, KeyError, TypeError):
        valid = False
    if not valid:
        raise _refuse("manifest.json invalide (format « facturier-backup » version 1 attendu)")
    return manifest


def _extract(archive: tarfile.TarFile, member: tarfile.TarInfo, target: Path, sha256: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with archive.extractfile(member) as source, target.open("wb") as out:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != sha256:
        raise _refuse(f"somme de contrôle incorrecte pour {member.name} (fichier altéré)")


def _check_sqlite(database: Path) -> None:
    with database.open("rb") as stream:
        header = stream.read(len(SQLITE_HEADER))
    ok = header == SQLITE_HEADER
    if ok:
        connection = sqlite3.connect(database)
        try:
            ok = connection.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        except sqlite3.DatabaseError:
            ok = False
        finally:
            connection.close()
    if not ok:
        raise _refuse(f"{DATABASE} n'est pas une base SQLite valide")


def _replace_database(source: Path, target: Path) -> None:
    """Copy `source` into the live database with the backup API; replace the file if unreadable."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(source)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            return
        except sqlite3.DatabaseError:
            pass  # the live file is damaged: replace it whole, below
        finally:
            dst.close()
    finally:
        src.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    partial = target.with_name(f".{target.name}.restore")
    shutil.copyfile(source, partial)
    os.replace(partial, target)
