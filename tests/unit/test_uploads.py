"""Stored uploads: random names, safe extensions, no way out of the upload folder."""

import io
from pathlib import Path

import pytest
from PIL import Image
from werkzeug.datastructures import FileStorage

from billing import uploads


def png_bytes(size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "navy").save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


def upload(data: bytes, filename="fichier.png") -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=filename)


def test_save_uses_a_random_name_and_the_given_extension(app, ctx):
    first = uploads.save(upload(b"%PDF-1.4 a", "../../evil.sh"), "pdf")
    second = uploads.save(upload(b"%PDF-1.4 b", "cgv.pdf"), "pdf")
    assert first != second
    assert first.endswith(".pdf") and len(first) == 36
    assert (Path(app.config["UPLOAD_FOLDER"]) / first).read_bytes() == b"%PDF-1.4 a"


def test_save_refuses_an_unsafe_extension(ctx):
    with pytest.raises(ValueError):
        uploads.save(upload(b"x"), "html")


def test_path_resolves_only_stored_names(app, ctx):
    name = uploads.save(upload(png_bytes()), "png")
    assert uploads.path(name) == Path(app.config["UPLOAD_FOLDER"]) / name
    for bad in ("../secret_key", "/etc/passwd", name + "\n", name.upper(), "", None,
                "0" * 32 + ".png"):
        with pytest.raises(FileNotFoundError):
            uploads.path(bad)


def test_delete_removes_a_stored_file_and_ignores_other_names(app, ctx):
    name = uploads.save(upload(png_bytes()), "png")
    outside = Path(app.instance_path) / "secret_key"
    uploads.delete("../secret_key")
    uploads.delete(None)
    uploads.delete(name)
    uploads.delete(name)
    assert outside.exists()
    assert not (Path(app.config["UPLOAD_FOLDER"]) / name).exists()


def test_mimetype_follows_the_extension():
    assert uploads.mimetype("a" * 32 + ".jpg") == "image/jpeg"
    assert uploads.mimetype("a" * 32 + ".pdf") == "application/pdf"


def test_image_extension_reads_the_real_format():
    assert uploads.image_extension(io.BytesIO(png_bytes())) == "png"
    assert uploads.image_extension(io.BytesIO(jpeg_bytes())) == "jpg"


def test_image_extension_refuses_a_broken_image():
    broken = png_bytes()[:30]
    with pytest.raises(uploads.UploadError, match="Image illisible"):
        uploads.image_extension(io.BytesIO(broken))


def test_image_extension_refuses_another_image_format():
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "GIF")
    with pytest.raises(uploads.UploadError, match="PNG ou JPEG"):
        uploads.image_extension(io.BytesIO(buffer.getvalue()))


def test_image_extension_rewinds_the_stream():
    stream = io.BytesIO(png_bytes())
    uploads.image_extension(stream)
    assert stream.tell() == 0
