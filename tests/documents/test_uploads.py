"""Uploads: size limits, real file types, who may download, safe names; and the file-type
detector and content-addressed store underneath."""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from eresident.documents import filetypes
from eresident.documents.models import Document
from eresident.documents.store import FileStore
from tests.factories import Api, Person, application_payload, bearer, pdf_bytes, png_bytes

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + bytes(32)
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(64)


def count_documents(node) -> int:
    with node.ctx.database.session(write=False) as db:
        return db.scalar(select(func.count()).select_from(Document))


def stored_files(node) -> list[Path]:
    root = node.ctx.files.root
    return [p for p in root.rglob("*") if p.is_file()]


def assert_problem(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["title"] and body["type"].startswith("https://")
    return body


def assert_refused_and_nothing_written(node, r, status: int = 422, field: str = "file") -> dict:
    body = assert_problem(r, status)
    assert [e["field"] for e in body["errors"]] == [field]
    assert count_documents(node) == 0
    assert stored_files(node) == []
    return body


@pytest.fixture
def api(node) -> Api:
    return Api(node)


# --- refusals through the API --------------------------------------------------------------------------------

def test_an_oversize_photo_is_413_naming_the_field(make_node):
    node = make_node(max_photo_bytes=1024)
    api = Api(node)
    token = api.applicant()
    r = api.upload(token, data=png_bytes() + bytes(2048))
    body = assert_refused_and_nothing_written(node, r, 413)
    assert body["type"].endswith("/file-too-large")
    assert "at most 1 KB" in body["detail"] and "photo" in body["detail"]
    # the same bytes are fine as a supporting document, whose limit is larger
    assert api.upload(token, kind="supporting", data=png_bytes() + bytes(2048)).status_code == 201


def test_a_photo_at_the_limit_is_accepted(make_node):
    node = make_node(max_photo_bytes=1024)
    api = Api(node)
    token = api.applicant()
    data = png_bytes() + bytes(1024 - len(png_bytes()))
    assert len(data) == 1024
    assert api.upload(token, data=data).status_code == 201


def test_a_png_named_pdf_is_mislabelled(api, node):
    token = api.applicant()
    r = api.upload(token, kind="supporting", filename="contract.pdf", content_type="application/octet-stream")
    body = assert_refused_and_nothing_written(node, r)
    assert "mislabelled" in body["title"]
    assert "contract.pdf" in body["detail"] and "PNG" in body["detail"]


def test_a_pdf_sent_as_a_photo_is_refused(api, node):
    token = api.applicant()
    r = api.upload(token, kind="photo", data=pdf_bytes(), filename="me.pdf", content_type="application/pdf")
    body = assert_refused_and_nothing_written(node, r)
    assert "PDF" in body["detail"] and "JPEG" in body["detail"] and "PNG" in body["detail"]


def test_a_windows_program_is_refused_by_name(api, node):
    token = api.applicant()
    for kind in ("photo", "supporting"):
        r = api.upload(token, kind=kind, data=EXE, filename="scan.png", content_type="image/png")
        body = assert_refused_and_nothing_written(node, r)
        assert "Windows program" in body["detail"]


@pytest.mark.parametrize("data, label", [
    (b"\x7fELF\x02\x01\x01" + bytes(32), "Linux program"),
    (b"PK\x03\x04" + bytes(32), "ZIP archive"),
    (b"  <svg xmlns='http://www.w3.org/2000/svg'></svg>", "SVG image"),
    (b"<!doctype html><html></html>", "HTML page"),
    (b"GIF89a" + bytes(16), "GIF image"),
    (b"", "empty file"),
    (b"just some text", "unrecognised type"),
])
def test_other_content_is_refused_and_described(api, node, data, label):
    token = api.applicant()
    r = api.upload(token, kind="supporting", data=data, filename="doc.pdf", content_type="application/pdf")
    body = assert_refused_and_nothing_written(node, r)
    assert label in body["detail"]


@pytest.mark.parametrize("declared", ["image/jpeg", "application/pdf", "text/html", "image/svg+xml"])
def test_a_content_type_header_contradicting_the_content_is_refused(api, node, declared):
    token = api.applicant()
    r = api.upload(token, kind="supporting", filename="photo.png", content_type=declared)
    body = assert_refused_and_nothing_written(node, r)
    assert "mislabelled" in body["title"] and declared in body["detail"]


@pytest.mark.parametrize("declared", ["audio/mpeg", "video/mp4", "font/woff2"])
def test_any_contradicting_content_type_is_refused(api, node, declared):
    token = api.applicant()
    r = api.upload(token, kind="photo", filename="photo.png", content_type=declared)
    assert_refused_and_nothing_written(node, r)


@pytest.mark.parametrize("declared", ["image/jpg", "image/pjpeg", "IMAGE/JPEG"])
def test_common_spellings_of_the_right_type_are_accepted(api, declared):
    token = api.applicant()
    r = api.upload(token, data=JPEG, filename="me.jpg", content_type=declared)
    assert r.status_code == 201, r.text
    assert r.json()["media_type"] == "image/jpeg"


def test_a_generic_content_type_is_accepted(api):
    token = api.applicant()
    r = api.upload(token, content_type="application/octet-stream")
    assert r.status_code == 201 and r.json()["media_type"] == "image/png"


def test_an_unknown_kind_is_refused(api, node):
    token = api.applicant()
    r = api.upload(token, kind="selfie")
    assert_refused_and_nothing_written(node, r, field="kind")


def test_a_body_over_max_body_bytes_is_413(make_node):
    node = make_node(max_body_bytes=4096)
    api = Api(node)
    token = api.applicant()
    r = api.upload(token, kind="supporting", data=pdf_bytes() + bytes(8192))
    body = assert_problem(r, 413)
    assert body["type"].endswith("/body-too-large")
    assert count_documents(node) == 0 and stored_files(node) == []
    # anything, not only uploads
    r = api.client.post("/api/v1/applicants", json={"email": "x@example.dz", "password": "p" * 5000})
    assert_problem(r, 413)


def _chunked(body: bytes, size: int = 1024):
    for i in range(0, len(body), size):
        yield body[i:i + size]


def test_a_streamed_body_over_max_body_bytes_is_413(make_node):
    node = make_node(max_body_bytes=4096)
    api = Api(node)
    token = api.applicant()
    request = httpx.Request("POST", "http://lj.test/", data={"kind": "supporting"},
                            files={"file": ("big.pdf", pdf_bytes() + bytes(8192), "application/pdf")})
    body = request.read()
    # no Content-Length: the limit must be enforced while reading
    r = api.client.post("/api/v1/documents", content=_chunked(body),
                        headers={**bearer(token), "content-type": request.headers["content-type"]})
    body = assert_problem(r, 413)
    assert body["type"].endswith("/body-too-large")
    assert count_documents(node) == 0 and stored_files(node) == []


def test_a_streamed_body_under_the_limit_is_accepted(make_node):
    node = make_node(max_body_bytes=64 * 1024)
    api = Api(node)
    token = api.applicant()
    data = pdf_bytes() + bytes(8192)
    request = httpx.Request("POST", "http://lj.test/", data={"kind": "supporting"},
                            files={"file": ("big.pdf", data, "application/pdf")})
    r = api.client.post("/api/v1/documents", content=_chunked(request.read()),
                        headers={**bearer(token), "content-type": request.headers["content-type"]})
    assert r.status_code == 201, r.text
    assert r.json()["size"] == len(data)


def test_a_streamed_body_over_the_limit_is_never_stored(make_node):
    node = make_node(max_body_bytes=4096)
    api = Api(node)
    token = api.applicant()
    request = httpx.Request("POST", "http://lj.test/", data={"kind": "supporting"},
                            files={"file": ("big.pdf", pdf_bytes() + bytes(8192), "application/pdf")})
    r = api.client.post("/api/v1/documents", content=_chunked(request.read()),
                        headers={**bearer(token), "content-type": request.headers["content-type"]})
    assert r.status_code == 413
    assert count_documents(node) == 0 and stored_files(node) == []


def test_the_body_limit_is_stated_correctly(make_node):
    node = make_node(max_body_bytes=4096)
    r = node.client().post("/api/v1/applicants", json={"email": "x@example.dz", "password": "p" * 5000})
    assert "0 MB" not in r.json()["detail"] and "4 KB" in r.json()["detail"]


def test_uploads_need_a_signed_in_applicant(api, node):
    # without any credentials a multipart post is a browser form: it needs a form token first
    r = api.client.post("/api/v1/documents", data={"kind": "photo"},
                        files={"file": ("p.png", png_bytes(), "image/png")})
    assert_problem(r, 403)
    reviewer = api.official("lj-reviewer")
    r = api.upload(reviewer)
    assert_problem(r, 401)
    assert count_documents(node) == 0


# --- a good upload ---------------------------------------------------------------------------------------------

def test_an_accepted_upload_is_recorded_with_its_real_type_and_hash(api, node):
    token = api.applicant()
    data = png_bytes(3, 3)
    r = api.upload(token, data=data, content_type="image/png")
    assert r.status_code == 201
    body = r.json()
    digest = hashlib.sha256(data).hexdigest()
    assert body["sha256"] == digest and body["size"] == len(data) and body["media_type"] == "image/png"
    assert node.ctx.files.path_for(digest).read_bytes() == data
    jpeg = api.upload(token, data=JPEG, filename="me.JPG", content_type="image/jpeg")
    assert jpeg.status_code == 201 and jpeg.json()["media_type"] == "image/jpeg"


def test_the_same_bytes_uploaded_twice_are_stored_once(api, node):
    token = api.applicant()
    first, second = api.upload(token).json(), api.upload(token).json()
    assert first["id"] != second["id"] and first["sha256"] == second["sha256"]
    assert count_documents(node) == 2 and len(stored_files(node)) == 1


@pytest.mark.parametrize("name, safe", [
    ("../../etc/passwd.png", "passwd.png"),
    ("..\\..\\Windows\\System32\\evil.png", "evil.png"),
    ("/absolute/path/me.png", "me.png"),
    ("..", "upload"),
    (".hidden.png", "hidden.png"),
])
def test_a_path_in_the_filename_is_stored_as_a_safe_name_and_never_used_as_a_path(api, node, tmp_path, name, safe):
    token = api.applicant()
    r = api.upload(token, filename=name)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["filename"] == safe
    with node.ctx.database.session(write=False) as db:
        assert db.get(Document, uuid.UUID(body["id"])).filename == safe
    # the bytes live only at their content address
    assert stored_files(node) == [node.ctx.files.path_for(body["sha256"])]
    assert not any(p.name in (safe, "passwd") for p in tmp_path.rglob("*"))
    download = api.client.get(f"/api/v1/documents/{body['id']}", headers=bearer(token))
    assert download.headers["content-disposition"] == f'attachment; filename="{body["id"]}"'


# --- who may download --------------------------------------------------------------------------------------------

def test_a_document_is_served_to_its_owner(api):
    token = api.applicant()
    data = png_bytes(4, 4)
    doc = api.upload(token, data=data).json()
    r = api.client.get(f"/api/v1/documents/{doc['id']}", headers=bearer(token))
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-type"] == "image/png"
    assert r.headers["cache-control"] == "private, no-store"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_another_applicant_gets_404(api):
    owner = api.applicant()
    doc = api.upload(owner).json()
    other = api.applicant()
    r = api.client.get(f"/api/v1/documents/{doc['id']}", headers=bearer(other))
    assert_problem(r, 404)
    assert_problem(api.client.get(f"/api/v1/documents/{doc['id']}"), 401)


def test_an_unknown_document_is_404(api):
    token = api.applicant()
    assert_problem(api.client.get(f"/api/v1/documents/{uuid.uuid4()}", headers=bearer(token)), 404)


def test_officials_see_a_document_only_once_it_is_used_in_an_application_of_the_region(api):
    token = api.applicant()
    data = png_bytes(5, 5)
    photo = api.upload(token, data=data).json()["id"]
    unused = api.upload(token, kind="supporting", data=pdf_bytes(), filename="a.pdf",
                        content_type="application/pdf").json()["id"]
    reviewer = api.official("lj-reviewer")
    assert_problem(api.client.get(f"/api/v1/documents/{photo}", headers=bearer(reviewer)), 404)
    r = api.client.post("/api/v1/applications", headers=bearer(token),
                        json=application_payload(Person(), photo_id=photo))
    assert r.status_code == 201, r.text
    seen = api.client.get(f"/api/v1/documents/{photo}", headers=bearer(reviewer))
    assert seen.status_code == 200 and seen.content == data
    # a document the applicant did not attach stays theirs alone
    assert_problem(api.client.get(f"/api/v1/documents/{unused}", headers=bearer(reviewer)), 404)
    # the site agent sees the photo (to compare faces) once the applicant booked at their site
    agent = api.official("lj-agent")
    assert api.client.get(f"/api/v1/documents/{photo}", headers=bearer(agent)).status_code == 404
    assert api.book_first_slot(token, r.json()["id"]).status_code == 201
    assert api.client.get(f"/api/v1/documents/{photo}", headers=bearer(agent)).status_code == 200
    auditor = api.official("lj-admin")  # holds admin and auditor
    assert api.client.get(f"/api/v1/documents/{photo}", headers=bearer(auditor)).status_code == 200


def test_an_expired_session_cannot_download(api, node):
    token = api.applicant()
    doc = api.upload(token).json()["id"]
    node.clock.advance(timedelta(hours=node.settings.applicant_session_hours))
    assert_problem(api.client.get(f"/api/v1/documents/{doc}", headers=bearer(token)), 401)


# --- filetypes -----------------------------------------------------------------------------------------------------

def test_detect_recognises_the_accepted_types_by_content():
    assert filetypes.detect(pdf_bytes()) is filetypes.PDF
    assert filetypes.detect(png_bytes()) is filetypes.PNG
    assert filetypes.detect(JPEG) is filetypes.JPEG


@pytest.mark.parametrize("data", [b"", b"\xff\xd8\xff", b"%PDF", b"\x89PNG", b"PDF-1.4", EXE, b"GIF89a"])
def test_detect_does_not_guess(data):
    assert filetypes.detect(data) is None


@pytest.mark.parametrize("data, label", [
    (EXE, "a Windows program"),
    (b"\x7fELF", "a Linux program"),
    (b"PK\x03\x04rest", "a ZIP archive or Office file"),
    (b"\n\t <!DOCTYPE html>", "an HTML page"),
    (b"<HTML><body>", "an HTML page"),
    (b"<SVG>", "an SVG image"),
    (b"<?xml version='1.0'?>", "an XML file"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1", "an old Office file"),
    (b"", "an empty file"),
    (b"hello", "a file of an unrecognised type"),
])
def test_describe_unknown_names_what_a_file_is(data, label):
    assert filetypes.describe_unknown(data) == label


@pytest.mark.parametrize("name, safe", [
    (None, "upload"),
    ("", "upload"),
    ("photo.png", "photo.png"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\me\\photo.jpg", "photo.jpg"),
    ("dir/", "upload"),
    ("...", "upload"),
    ("  .env  ", "env"),
    ("a\x00b\x1fc\x7f.png", "abc.png"),
    ("x" * 500 + ".png", "x" * 200),
])
def test_safe_filename(name, safe):
    assert filetypes.safe_filename(name) == safe


def test_safe_filename_never_contains_a_path_separator():
    for name in ("a/b", "a\\b", "../..", "/", "\\\\server\\share\\f.pdf"):
        result = filetypes.safe_filename(name)
        assert "/" not in result and "\\" not in result and not result.startswith(".")


@pytest.mark.parametrize("name, ext", [
    ("photo.PNG", ".png"), ("scan.final.Pdf", ".pdf"), ("noext", ""), (".bashrc", ""), ("a.", "."),
])
def test_extension_of(name, ext):
    assert filetypes.extension_of(name) == ext


# --- FileStore ------------------------------------------------------------------------------------------------------

def test_the_store_is_content_addressed(tmp_path):
    store = FileStore(tmp_path / "files")
    data = b"some bytes"
    digest = store.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    path = store.path_for(digest)
    assert path == tmp_path / "files" / digest[:2] / digest[2:4] / digest
    assert path.read_bytes() == data and store.get(digest) == data
    assert store.put(data) == digest  # idempotent
    other = store.put(b"other bytes")
    assert other != digest and store.get(other) == b"other bytes"
    assert len([p for p in (tmp_path / "files").rglob("*") if p.is_file()]) == 2


def test_put_leaves_no_temporary_files(tmp_path):
    store = FileStore(tmp_path)
    store.put(b"x" * 10_000)
    assert not list(tmp_path.rglob(".upload-*"))


def test_put_is_atomic_when_the_write_fails(tmp_path, monkeypatch):
    store = FileStore(tmp_path)
    data = b"half written"
    digest = hashlib.sha256(data).hexdigest()

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        store.put(data)
    assert not store.path_for(digest).exists()
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # the temporary file is gone too


def test_put_is_atomic_when_the_rename_fails(tmp_path, monkeypatch):
    store = FileStore(tmp_path)

    def broken_replace(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        store.put(b"never lands")
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_a_corrupt_file_is_detected_on_get(tmp_path):
    store = FileStore(tmp_path)
    digest = store.put(b"original")
    store.path_for(digest).write_bytes(b"tampered")
    with pytest.raises(OSError, match="corrupt"):
        store.get(digest)


def test_a_missing_file_is_an_error(tmp_path):
    store = FileStore(tmp_path)
    with pytest.raises(FileNotFoundError):
        store.get(hashlib.sha256(b"never stored").hexdigest())


@pytest.mark.parametrize("bad", ["", "../../etc/passwd", "ab" * 31, "AB" * 32, "g" * 64,
                                 "../" + "a" * 61, "a" * 65])
def test_the_store_accepts_only_sha256_digests_as_names(tmp_path, bad):
    store = FileStore(tmp_path)
    with pytest.raises(ValueError):
        store.path_for(bad)
    with pytest.raises(ValueError):
        store.get(bad)
