"""Backup and restore: a round trip after a wipe, and every archive that must be refused."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sqlite3
import tarfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from flask import Flask

from billing import backup, settings
from billing.models import db
from tests.conftest import NOW
from tests.factories import make_client, make_job

LOGO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
QUOTE = b"%PDF-1.4\n% devis signe\n"


def database_file(app) -> Path:
    return Path(app.instance_path) / "billing.sqlite"


def dump(app) -> dict[str, list[tuple]]:
    """Every row of every table, read straight from the SQLite file."""
    connection = sqlite3.connect(database_file(app))
    try:
        tables = [row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        )]
        return {t: connection.execute(f'SELECT * FROM "{t}" ORDER BY rowid').fetchall() for t in tables}
    finally:
        connection.close()


def uploads_content(app) -> dict[str, bytes]:
    root = Path(app.config["UPLOAD_FOLDER"])
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def wipe(app) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database_file(app)}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(app.config["UPLOAD_FOLDER"])


@pytest.fixture
def world(app, owner):
    """An owner, two clients (one with a job), a logo and an attached quote in the uploads."""
    with app.app_context():
        hexalis = make_client("Groupe Hexalis", emails=["compta@hexalis.fr", "achats@hexalis.fr"])
        make_client("Atelier Moreau", parent=hexalis)
        make_job(hexalis, "Audit de sécurité")
        settings.business().logo_path = "logo-3f2a.png"
        db.session.commit()
    uploads = Path(app.config["UPLOAD_FOLDER"])
    (uploads / "logo-3f2a.png").write_bytes(LOGO)
    (uploads / "attachments").mkdir()
    (uploads / "attachments" / "devis-91c0.pdf").write_bytes(QUOTE)
    return app


def test_restore_after_a_wipe_brings_back_the_same_rows_and_file_bytes(world, tmp_path):
    rows, files = dump(world), uploads_content(world)
    archive = tmp_path / "sauvegarde.tar.gz"
    backup.create(world, archive)

    wipe(world)
    backup.restore(world, archive)

    assert dump(world) == rows
    assert uploads_content(world) == files == {
        "logo-3f2a.png": LOGO, "attachments/devis-91c0.pdf": QUOTE
    }
    with world.app_context():
        assert settings.business().logo_path == "logo-3f2a.png"
    assert [p.name for p in Path(world.instance_path).iterdir() if p.name.startswith(".")] == []


def test_backup_reads_rows_still_in_the_write_ahead_log(world, tmp_path):
    assert Path(f"{database_file(world)}-wal").stat().st_size > 0
    archive = tmp_path / "b.tar.gz"
    backup.create(world, archive)
    with tarfile.open(archive) as tar:
        copy = tmp_path / "copy.sqlite"
        copy.write_bytes(tar.extractfile("billing.sqlite").read())
    connection = sqlite3.connect(copy)
    names = [row[0] for row in connection.execute("SELECT name FROM client ORDER BY name")]
    connection.close()
    assert names == ["Atelier Moreau", "Groupe Hexalis"]


def test_restore_replaces_rows_and_files_added_after_the_backup(world, tmp_path):
    rows = dump(world)
    archive = tmp_path / "b.tar.gz"
    backup.create(world, archive)
    with world.app_context():
        make_client("Client ajouté après")
        db.session.commit()
    (Path(world.config["UPLOAD_FOLDER"]) / "nouveau.pdf").write_bytes(b"new")

    backup.restore(world, archive)

    assert dump(world) == rows
    assert "nouveau.pdf" not in uploads_content(world)


def test_restore_over_a_damaged_database_file(world, tmp_path):
    rows = dump(world)
    archive = tmp_path / "b.tar.gz"
    backup.create(world, archive)
    wipe(world)
    database_file(world).write_bytes(b"garbage " * 2000)

    backup.restore(world, archive)

    assert dump(world) == rows


def test_manifest_lists_every_file_with_its_checksum(world, tmp_path):
    archive = tmp_path / "b.tar.gz"
    manifest = backup.create(world, archive)
    with tarfile.open(archive) as tar:
        stored = json.loads(tar.extractfile("manifest.json").read())
        names = tar.getnames()
        digests = {
            name: hashlib.sha256(tar.extractfile(name).read()).hexdigest()
            for name in names if name != "manifest.json"
        }
    assert stored == manifest
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert stored["format"] == "facturier-backup"
    assert stored["version"] == 1
    created = datetime.fromisoformat(stored["created_at"])  # on the app's clock, in UTC
    assert NOW.replace(tzinfo=timezone.utc) <= created < NOW.replace(tzinfo=timezone.utc) + timedelta(minutes=5)
    assert stored["alembic_revision"] is None
    assert names[0] == "manifest.json"
    assert {f["path"]: f["sha256"] for f in stored["files"]} == digests
    assert set(digests) == {"billing.sqlite", "uploads/logo-3f2a.png",
                            "uploads/attachments/devis-91c0.pdf"}


def test_manifest_records_the_alembic_revision(app, owner, tmp_path):
    with app.app_context():
        with db.engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32))")
            connection.exec_driver_sql("INSERT INTO alembic_version VALUES ('724b99774ce9')")
    manifest = backup.create(app, tmp_path / "b.tar.gz")
    assert manifest["alembic_revision"] == "724b99774ce9"


def test_backup_refuses_a_database_that_is_not_sqlite(tmp_path):
    app = Flask("other")
    app.config.update(SQLALCHEMY_DATABASE_URI="postgresql://facturier@localhost/facturier",
                      UPLOAD_FOLDER=str(tmp_path / "uploads"))
    with pytest.raises(backup.UnsupportedDatabase, match="ne gèrent qu'une base SQLite"):
        backup.create(app, tmp_path / "b.tar.gz")
    with pytest.raises(backup.UnsupportedDatabase, match="postgresql"):
        backup.restore(app, tmp_path / "b.tar.gz")
    assert not (tmp_path / "b.tar.gz").exists()


def sqlite_bytes(tmp_path) -> bytes:
    path = tmp_path / "other.sqlite"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE t (x)")
    connection.commit()
    connection.close()
    return path.read_bytes()


def build_archive(path: Path, files: dict[str, bytes], manifest=None, links=()) -> Path:
    """A hand-made archive; the manifest is computed from `files` unless given."""
    if manifest is None:
        manifest = manifest_for(files)
    members = dict(files)
    if manifest is not False:
        members = {"manifest.json": manifest if isinstance(manifest, bytes)
                   else json.dumps(manifest).encode(), **files}
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in links:
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return path


def manifest_for(files: dict[str, bytes], **changes) -> dict:
    manifest = {
        "format": "facturier-backup", "version": 1, "created_at": "2026-11-24T10:00:00+00:00",
        "alembic_revision": None,
        "files": [{"path": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
                  for n, d in files.items()],
    }
    manifest.update(changes)
    return manifest


def bad_archives(tmp_path) -> dict[str, tuple[Path, str]]:
    database = sqlite_bytes(tmp_path)
    good = {"billing.sqlite": database, "uploads/logo.png": LOGO}

    def archive(name, files=good, **kwargs):
        return build_archive(tmp_path / f"{name}.tar.gz", files, **kwargs)

    not_gzip = tmp_path / "notes.txt"
    not_gzip.write_text("Ceci n'est pas une sauvegarde.")
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive("whole").read_bytes()[:200])
    tampered = manifest_for(good)
    tampered["files"][1]["sha256"] = hashlib.sha256(b"autre chose").hexdigest()
    with_escape = {**good, "../evil.sh": b"rm -rf /"}
    with_absolute = {**good, "/etc/cron.d/evil": b"* * * * * root evil"}
    with_stray = {**good, "app.py": b"print('pwned')"}
    uploads_as_file = {"billing.sqlite": database, "uploads": b"not a folder"}
    not_sqlite = {**good, "billing.sqlite": b"PRAGMA hello; this is text"}
    return {
        "not a tar.gz": (not_gzip, "archive .tar.gz lisible"),
        "truncated": (truncated, "archive .tar.gz lisible"),
        "no manifest": (archive("nomanifest", manifest=False), "manifest.json manquant"),
        "manifest not json": (archive("badjson", manifest=b"{pas du json"), "manifest.json invalide"),
        "other format": (archive("format", manifest=manifest_for(good, format="autre")),
                         "manifest.json invalide"),
        "future version": (archive("version", manifest=manifest_for(good, version=99)),
                           "manifest.json invalide"),
        "checksum mismatch": (archive("tampered", manifest=tampered), "somme de contrôle incorrecte"),
        "path escaping": (archive("escape", with_escape), "chemin interdit dans l'archive : ../evil.sh"),
        "absolute path": (archive("absolute", with_absolute), "chemin interdit"),
        "symbolic link": (archive("link", links=[("uploads/passwd", "/etc/passwd")]),
                          "n'est pas un fichier"),
        "file outside uploads": (archive("stray", with_stray), "fichier inattendu : app.py"),
        "uploads as a file": (archive("uploadsfile", uploads_as_file), "fichier inattendu : uploads"),
        "unlisted file": (archive("unlisted", manifest=manifest_for({"billing.sqlite": database})),
                          "absent du manifeste : uploads/logo.png"),
        "listed file missing": (archive("missing", {"billing.sqlite": database},
                                        manifest=manifest_for(good)), "fichier manquant"),
        "no database": (archive("nodb", {"uploads/logo.png": LOGO}), "manifest.json invalide"),
        "database not sqlite": (archive("notsqlite", not_sqlite), "n'est pas une base SQLite"),
    }


CASES = [
    "not a tar.gz", "truncated", "no manifest", "manifest not json", "other format",
    "future version", "checksum mismatch", "path escaping", "absolute path", "symbolic link",
    "file outside uploads", "uploads as a file", "unlisted file", "listed file missing", "no database",
    "database not sqlite",
]


@pytest.mark.parametrize("case", CASES)
def test_restore_refuses_what_is_not_a_backup_and_changes_nothing(world, tmp_path, case):
    path, message = bad_archives(tmp_path)[case]
    rows, files = dump(world), uploads_content(world)
    instance_before = sorted(p.name for p in Path(world.instance_path).iterdir())

    with pytest.raises(backup.NotABackup, match="n'est pas une sauvegarde Facturier") as refused:
        backup.restore(world, path)

    assert message in str(refused.value)
    assert dump(world) == rows
    assert uploads_content(world) == files
    assert sorted(p.name for p in Path(world.instance_path).iterdir()) == instance_before
    assert not (tmp_path.parent / "evil.sh").exists()


def test_the_issued_pdfs_are_backed_up_and_restored_and_stale_ones_go(world, tmp_path):
    pdfs = Path(world.instance_path) / "pdf"
    pdfs.mkdir()
    (pdfs / "invoice-1-r1-abc.pdf").write_bytes(b"%PDF-1.4 as sent")
    archive = tmp_path / "sauvegarde.tar.gz"
    backup.create(world, archive)
    (pdfs / "invoice-1-r1-abc.pdf").unlink()
    (pdfs / "invoice-9-r1-zzz.pdf").write_bytes(b"%PDF-1.4 of another database")

    backup.restore(world, archive)

    assert {p.name: p.read_bytes() for p in pdfs.iterdir()} == {
        "invoice-1-r1-abc.pdf": b"%PDF-1.4 as sent"
    }
