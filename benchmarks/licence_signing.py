"""Licence PDFs rendered and signed per second, beside pyHanko signing a trivial one-page PDF.

One process (one core), the region PKI in memory. Each measure runs for --seconds, in --rounds
rounds that interleave the measures (the machines are noisy); the median round counts.
The baseline is what pyHanko does with its defaults on a one-page "hello" PDF: the cost of a
PAdES signature with nothing of ours around it. The last line is the ratio.

    .venv/bin/python benchmarks/licence_signing.py [--seconds 3] [--rounds 3]

Part (3) of `eresident bench enterprise` (benchmarks/enterprise.py), which calls measure().
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import statistics
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal

from reportlab.pdfgen.canvas import Canvas

from eresident.crypto.pades import _asn1_cert, _asn1_key, sign_pdf, verify_pdf
from eresident.crypto.pki import create_region_pki
from eresident.documents.licence_pdf import LicenceData, find_fonts, render_licence

SCOPE_ZH = ("一般项目：软件开发；信息技术咨询服务；技术服务、技术开发、技术咨询、技术交流、技术转让、"
            "技术推广；数据处理和存储支持服务；货物进出口；技术进出口。（除依法须经批准的项目外，凭营业执照"
            "依法自主开展经营活动）")
SCOPE_EN = ("General items: software development; information technology consulting services; "
            "technical services, development, consulting, exchange, transfer and promotion; data "
            "processing and storage support services; import and export of goods and technology.")


def licence(n: int) -> LicenceData:
    return LicenceData(
        uscc=f"91500000MA{n:07d}X"[:18].ljust(18, "0"),
        name_zh="重庆澄川科技有限公司", name_en="Chongqing Chengchuan Technology Co., Ltd.",
        legal_representative="Maria Helena OLIVEIRA SANTOS",
        registered_capital=Decimal(1_000_000 + n), currency="USD",
        established_on=date(2026, 11, 26),
        address_zh="重庆市两江新区金渝大道99号国际商务中心A座12楼1205室",
        address_en="Room 1205, 12/F, Tower A, International Business Centre, 99 Jinyu Avenue, "
                   "Liangjiang New Area, Chongqing",
        business_scope_zh=SCOPE_ZH, business_scope_en=SCOPE_EN, issued_on=date(2026, 11, 26),
        region="LJ", base_url="https://lj.eresident.example",
    )


def trivial_pdf() -> bytes:
    buf = io.BytesIO()
    c = Canvas(buf)
    c.drawString(72, 720, "hello")
    c.showPage()
    c.save()
    return buf.getvalue()


def pyhanko_defaults(pki):
    """Sign with pyHanko's own defaults (PdfSigner.sign_pdf, size estimated by a dummy run)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    signer = signers.SimpleSigner(
        signing_cert=_asn1_cert(pki.signing_cert), signing_key=_asn1_key(pki.signing_key),
        cert_registry=SimpleCertificateStore.from_certs([_asn1_cert(pki.root_cert)]),
    )
    meta = signers.PdfSignatureMetadata(field_name="Signature1")

    def sign(pdf: bytes) -> bytes:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        return signers.PdfSigner(meta, signer=signer).sign_pdf(writer).getvalue()

    return sign


def rate(fn: Callable[[], object], seconds: float) -> tuple[float, int]:
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        fn()
        count += 1
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start), count


def measure(*, seconds: float = 3.0, rounds: int = 3, quick: bool = False) -> dict:
    """Rates per second (median of the rounds) of each measure; `quick` runs only the licence
    render + sign and the pyHanko baseline (what `eresident bench enterprise` reports)."""
    pki = create_region_pki("LJ")
    fonts = find_fonts()
    serial = itertools.count(1)
    hello = trivial_pdf()
    baseline = pyhanko_defaults(pki)
    sample = render_licence(licence(0))
    signed_sample = sign_pdf(sample, pki, reason="Business licence", location="Chongqing")
    assert verify_pdf(signed_sample, [pki.root_cert]).valid
    assert baseline(hello)

    measures: dict[str, Callable[[], object]] = {
        "licence: render": lambda: render_licence(licence(next(serial))),
        "licence: sign (sign_pdf)": lambda: sign_pdf(sample, pki, reason="Business licence",
                                                     location="Chongqing"),
        "licence: render + sign": lambda: sign_pdf(
            render_licence(licence(next(serial))), pki, reason="Business licence",
            location="Chongqing"),
        "licence: verify (verify_pdf)": lambda: verify_pdf(signed_sample, [pki.root_cert]),
        "trivial PDF: sign_pdf": lambda: sign_pdf(hello, pki, reason="r", location="l"),
        "trivial PDF: pyHanko defaults": lambda: baseline(hello),
    }
    if quick:
        measures = {k: v for k, v in measures.items()
                    if k in ("licence: render + sign", "trivial PDF: pyHanko defaults")}
    for fn in measures.values():  # warm-up
        fn()
    results: dict[str, list[float]] = {name: [] for name in measures}
    for _ in range(rounds):
        for name, fn in measures.items():
            results[name].append(rate(fn, seconds)[0])
    return {"medians": {name: statistics.median(values) for name, values in results.items()},
            "fonts_embedded": fonts.embedded, "pdf_kib": len(signed_sample) / 1024,
            "load": os.getloadavg()[0]}


def report(result: dict, seconds: float, rounds: int) -> list[str]:
    lines = [f"licence signing: 1 process, median of {rounds} rounds of {seconds:g} s; "
             f"fonts embedded: {result['fonts_embedded']}; licence PDF {result['pdf_kib']:.0f} KiB "
             f"signed; load average {result['load']:.1f} on {os.cpu_count()} cores"]
    for name, per_s in result["medians"].items():
        lines.append(f"  {name:<32} {per_s:8.1f} per s  ({1000 / per_s:6.1f} ms)")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    args, _ = parser.parse_known_args()
    result = measure(seconds=args.seconds, rounds=args.rounds)
    print("\n".join(report(result, args.seconds, args.rounds)))
    medians = result["medians"]
    ratio = medians["licence: render + sign"] / medians["trivial PDF: pyHanko defaults"]
    print(f"ratio licence render+sign per s / pyHanko trivial signature per s: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
