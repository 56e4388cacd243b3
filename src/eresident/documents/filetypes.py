"""Detect a file's type from its content, and compare it with what its name and label claim."""

from __future__ import annotations

import re
from dataclasses import dataclass

from eresident.i18n import N_


@dataclass(frozen=True)
class FileType:
    media_type: str
    extensions: tuple[str, ...]
    label: str  # marked for the catalogues: refusals name the type in the reader's language


PDF = FileType("application/pdf", (".pdf",), N_("a PDF document"))
JPEG = FileType("image/jpeg", (".jpg", ".jpeg"), N_("a JPEG image"))
PNG = FileType("image/png", (".png",), N_("a PNG image"))
KNOWN = (PDF, JPEG, PNG)

_OTHER_SIGNATURES = (
    (b"MZ", N_("a Windows program")),
    (b"\x7fELF", N_("a Linux program")),
    (b"PK\x03\x04", N_("a ZIP archive or Office file")),
    (b"GIF8", N_("a GIF image")),
    (b"<!DOCTYPE", N_("an HTML page")),
    (b"<html", N_("an HTML page")),
    (b"<svg", N_("an SVG image")),
    (b"<?xml", N_("an XML file")),
    (b"\xd0\xcf\x11\xe0", N_("an old Office file")),
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
        return N_("an empty file")
    return N_("a file of an unrecognised type")


def safe_filename(name: str | None) -> str:
    """A display name with no path and no control characters; never used to build a path."""
    base = (name or "upload").replace("\\", "/").rsplit("/", 1)[-1]
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip().lstrip(".")
    return (base or "upload")[:200]


def extension_of(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""
