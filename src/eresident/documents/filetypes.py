"""Detect a file's type from its content, and compare it with what its name and label claim."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class FileType:
    media_type: str
    extensions: tuple[str, ...]
    label: str


PDF = FileType("application/pdf", (".pdf",), "a PDF document")
JPEG = FileType("image/jpeg", (".jpg", ".jpeg"), "a JPEG image")
PNG = FileType("image/png", (".png",), "a PNG image")
KNOWN = (PDF, JPEG, PNG)

_OTHER_SIGNATURES = (
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a Linux program"),
    (b"PK\x03\x04", "a ZIP archive or Office file"),
    (b"GIF8", "a GIF image"),
    (b"<!DOCTYPE", "an HTML page"),
    (b"<html", "an HTML page"),
    (b"<svg", "an SVG image"),
    (b"<?xml", "an XML file"),
    (b"\xd0\xcf\x11\xe0", "an old Office file"),
)


def detect(data: bytes) -> FileType | None:
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\xff\xd8\xff") and len(data) > 4:
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    return None


def describe_unknown(data: bytes) -> str:
    head = data[:16].lstrip()
    for signature, label in _OTHER_SIGNATURES:
        if head[: len(signature)].lower() == signature.lower():
            return label
    if not data:
        return "an empty file"
    return "a file of an unrecognised type"


def safe_filename(name: str | None) -> str:
    """A display name with no path and no control characters; never used to build a path."""
    base = (name or "upload").replace("\\", "/").rsplit("/", 1)[-1]
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip().lstrip(".")
    return (base or "upload")[:200]


def extension_of(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""
