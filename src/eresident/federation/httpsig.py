"""HTTP Message Signatures (RFC 9421, alg ed25519) with Content-Digest (RFC 9530, sha-256).

Small and pure: no framework, no database, no clock. A request is a method, its target URI and its
header fields; the caller says what time it is and how to find a key. Only what the node protocol
needs is here: request signatures, derived components without parameters, one signature per check.
Refusals raise SignatureError with a stable code (the problem type the receiver answers with).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALG = "ed25519"
DERIVED = ("@method", "@target-uri", "@authority", "@scheme", "@request-target", "@path", "@query")


class SignatureError(Exception):
    """A signature or digest that cannot be accepted; `code` names the reason."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


# --- Structured Field Values (RFC 8941): the subset Signature and Signature-Input use ------------

class Token(str):
    """An sf-token (serialised without quotes), as opposed to an sf-string."""


@dataclass
class Item:
    value: object  # str | Token | int | bool | bytes
    params: dict[str, object] = field(default_factory=dict)


@dataclass
class InnerList:
    items: list[Item]
    params: dict[str, object] = field(default_factory=dict)


_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN = re.compile(r"[A-Za-z*][A-Za-z0-9:/!#$%&'*+\-.^_`|~]*")
_INTEGER = re.compile(r"-?[0-9]{1,15}")
_BYTES = re.compile(r":([A-Za-z0-9+/=]*):")


class _Parser:
    def __init__(self, text: str):
        self.s = text
        self.i = 0

    def fail(self, what: str) -> SignatureError:
        return SignatureError("signature-malformed", f"{what} at position {self.i}")

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def skip(self, chars: str) -> None:
        while self.i < len(self.s) and self.s[self.i] in chars:
            self.i += 1

    def match(self, pattern: re.Pattern) -> re.Match:
        m = pattern.match(self.s, self.i)
        if not m:
            raise self.fail("unexpected character")
        self.i = m.end()
        return m

    def dictionary(self) -> dict[str, Item | InnerList]:
        out: dict[str, Item | InnerList] = {}
        self.skip(" ")
        while self.i < len(self.s):
            key = self.match(_KEY).group()
            if self.peek() == "=":
                self.i += 1
                out[key] = self.inner_list() if self.peek() == "(" else self.item()
            else:
                out[key] = Item(True, self.params())
            self.skip(" \t")
            if self.i >= len(self.s):
                return out
            if self.peek() != ",":
                raise self.fail("expected ','")
            self.i += 1
            self.skip(" \t")
            if self.i >= len(self.s):
                raise self.fail("trailing ','")
        return out

    def inner_list(self) -> InnerList:
        self.i += 1  # "("
        items: list[Item] = []
        while True:
            self.skip(" ")
            if self.peek() == ")":
                self.i += 1
                return InnerList(items, self.params())
            items.append(self.item())
            if self.peek() not in (" ", ")"):
                raise self.fail("expected ' ' or ')'")

    def item(self) -> Item:
        return Item(self.bare_item(), self.params())

    def params(self) -> dict[str, object]:
        params: dict[str, object] = {}
        while self.peek() == ";":
            self.i += 1
            self.skip(" ")
            key = self.match(_KEY).group()
            if self.peek() == "=":
                self.i += 1
                params[key] = self.bare_item()
            else:
                params[key] = True
        return params

    def bare_item(self) -> object:
        c = self.peek()
        if c == '"':
            return self.string()
        if c == ":":
            m = self.match(_BYTES)
            try:
                return base64.b64decode(m.group(1), validate=True)
            except ValueError:
                raise self.fail("bad base64") from None
        if c == "?":
            if self.s[self.i:self.i + 2] in ("?0", "?1"):
                self.i += 2
                return self.s[self.i - 1] == "1"
            raise self.fail("bad boolean")
        if c == "-" or c.isdigit():
            m = self.match(_INTEGER)
            if self.peek() == ".":
                raise self.fail("decimals are not used here")
            return int(m.group())
        return Token(self.match(_TOKEN).group())

    def string(self) -> str:
        self.i += 1
        out = []
        while self.i < len(self.s):
            c = self.s[self.i]
            self.i += 1
            if c == "\\":
                if self.peek() not in ('"', "\\"):
                    raise self.fail("bad escape")
                out.append(self.peek())
                self.i += 1
            elif c == '"':
                return "".join(out)
            elif not (0x20 <= ord(c) < 0x7F):
                raise self.fail("non-ASCII in string")
            else:
                out.append(c)
        raise self.fail("unterminated string")


def parse_dictionary(text: str) -> dict[str, Item | InnerList]:
    return _Parser(text.strip()).dictionary()


def _serialize_bare(value: object) -> str:
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode() + ":"
    if isinstance(value, Token):
        return str(value)
    if isinstance(value, str):
        if any(not (0x20 <= ord(c) < 0x7F) for c in value):
            raise ValueError("structured-field strings are ASCII")
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _serialize_params(params: Mapping[str, object]) -> str:
    return "".join(f";{k}" if v is True else f";{k}={_serialize_bare(v)}" for k, v in params.items())


def serialize_inner_list(value: InnerList) -> str:
    inner = " ".join(_serialize_bare(i.value) + _serialize_params(i.params) for i in value.items)
    return f"({inner}){_serialize_params(value.params)}"


# --- Content-Digest (RFC 9530) ---------------------------------------------------------------------

def content_digest(body: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


def check_content_digest(header: str | None, body: bytes) -> None:
    """The body matches its Content-Digest (sha-256 required; other algorithms are ignored)."""
    if not header:
        raise SignatureError("digest-missing", "The request has no Content-Digest.")
    digests = parse_dictionary(header)
    wanted = digests.get("sha-256")
    if not isinstance(wanted, Item) or not isinstance(wanted.value, bytes):
        raise SignatureError("digest-missing", "The Content-Digest has no sha-256 value.")
    if not hmac.compare_digest(wanted.value, hashlib.sha256(body).digest()):
        raise SignatureError("digest-mismatch", "The body does not match its Content-Digest.")


# --- Signature base and signatures (RFC 9421) ------------------------------------------------------

@dataclass(frozen=True)
class HttpRequest:
    """What a request signature covers. `headers`: lower-case names, values already combined."""

    method: str
    target_uri: str
    headers: Mapping[str, str]

    @classmethod
    def of(cls, method: str, target_uri: str, headers: Iterable[tuple[str, str]]) -> HttpRequest:
        combined: dict[str, str] = {}
        for name, value in headers:
            name = name.lower()
            value = value.strip(" \t")
            combined[name] = f"{combined[name]}, {value}" if name in combined else value
        return cls(method, target_uri, combined)


def _component_value(request: HttpRequest, item: Item) -> str:
    name = item.value
    if not isinstance(name, str) or isinstance(name, Token):
        raise SignatureError("signature-malformed", "Covered components are strings.")
    if item.params:
        raise SignatureError("signature-malformed",
                             f"Component parameters ({', '.join(item.params)}) are not supported.")
    if not name.startswith("@"):
        if name != name.lower():
            raise SignatureError("signature-malformed", f"Field name {name!r} is not lower case.")
        if name not in request.headers:
            raise SignatureError("signature-missing-component", f"The request has no {name} field.")
        return request.headers[name]
    parts = urlsplit(request.target_uri)
    if name == "@method":
        return request.method.upper()
    if name == "@target-uri":
        return request.target_uri
    if name == "@scheme":
        return parts.scheme.lower()
    if name == "@authority":
        host = (parts.hostname or "").lower()
        default = {"http": 80, "https": 443}.get(parts.scheme.lower())
        return host if parts.port in (None, default) else f"{host}:{parts.port}"
    if name == "@path":
        return parts.path or "/"
    if name == "@query":
        return "?" + parts.query
    if name == "@request-target":
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    raise SignatureError("signature-malformed", f"Unknown derived component {name!r}.")


def signature_base(request: HttpRequest, covered: InnerList) -> str:
    lines = []
    seen = set()
    for item in covered.items:
        ident = _serialize_bare(item.value) + _serialize_params(item.params)
        if ident in seen:
            raise SignatureError("signature-malformed", f"Component {ident} is covered twice.")
        seen.add(ident)
        value = _component_value(request, item)
        if "\n" in value or "\r" in value:
            raise SignatureError("signature-malformed", f"Component {ident} spans lines.")
        lines.append(f"{ident}: {value}")
    lines.append(f'"@signature-params": {serialize_inner_list(covered)}')
    return "\n".join(lines)


def sign(request: HttpRequest, *, key: Ed25519PrivateKey, keyid: str, components: Iterable[str],
         created: int, expires: int | None = None, nonce: str | None = None, alg: str | None = ALG,
         label: str = "sig1") -> dict[str, str]:
    """Sign `request`; returns the Signature-Input and Signature fields to add to it."""
    params: dict[str, object] = {"created": int(created)}
    if expires is not None:
        params["expires"] = int(expires)
    if nonce is not None:
        params["nonce"] = nonce
    if alg is not None:
        params["alg"] = alg
    params["keyid"] = keyid
    covered = InnerList([Item(c) for c in components], params)
    signature = key.sign(signature_base(request, covered).encode())
    return {"Signature-Input": f"{label}={serialize_inner_list(covered)}",
            "Signature": f"{label}={_serialize_bare(signature)}"}


@dataclass(frozen=True)
class VerifiedSignature:
    label: str
    keyid: str
    created: int
    expires: int | None
    nonce: str | None
    alg: str | None
    components: tuple[str, ...]
    key: object  # whatever resolve_key returned for the keyid (e.g. the trusted peer key)


KeyResolver = Callable[[str, int], tuple[Ed25519PublicKey, object]]


def verify(request: HttpRequest, *, resolve_key: KeyResolver, now: int, max_skew: int,
           required_components: Iterable[str] = (), required_params: Iterable[str] = ("created", "keyid"),
           body: bytes | None = None, label: str | None = None, max_age: int | None = None) -> VerifiedSignature:
    """Check one signature of `request` and, when `body` is given, its Content-Digest.

    `resolve_key(keyid, created)` returns (public key, anything) or raises SignatureError (unknown,
    revoked, out-of-validity keys). Times are Unix seconds: a signature created more than
    `max_skew` in the future or past its `expires` is refused. With `max_age`, so is one created
    longer ago than that, or one that claims a longer life: both times come from the signer, so
    without a bound an old (rotated, leaked) key could backdate a signature into its validity."""
    inputs = request.headers.get("signature-input")
    signatures = request.headers.get("signature")
    if not inputs or not signatures:
        raise SignatureError("signature-missing", "The request is not signed (Signature-Input, Signature).")
    parsed_inputs, parsed_sigs = parse_dictionary(inputs), parse_dictionary(signatures)
    if label is None:
        if len(parsed_inputs) != 1:
            raise SignatureError("signature-malformed", "Expected exactly one signature.")
        label = next(iter(parsed_inputs))
    covered, sig = parsed_inputs.get(label), parsed_sigs.get(label)
    if not isinstance(covered, InnerList) or not isinstance(sig, Item) or not isinstance(sig.value, bytes):
        raise SignatureError("signature-malformed", f"No signature labelled {label!r}.")
    names = tuple(str(i.value) for i in covered.items)
    missing = [c for c in required_components if c not in names]
    if missing:
        raise SignatureError("signature-missing-component", f"The signature must cover {', '.join(missing)}.")
    params = covered.params
    absent = [p for p in required_params if p not in params]
    if absent:
        raise SignatureError("signature-malformed", f"The signature needs the parameters {', '.join(absent)}.")
    created, expires = params.get("created"), params.get("expires")
    keyid, nonce, alg = params.get("keyid"), params.get("nonce"), params.get("alg")
    if not isinstance(created, int) or isinstance(created, bool) or \
            (expires is not None and (not isinstance(expires, int) or isinstance(expires, bool))):
        raise SignatureError("signature-malformed", "created and expires are integers.")
    if not isinstance(keyid, str) or (nonce is not None and not isinstance(nonce, str)):
        raise SignatureError("signature-malformed", "keyid and nonce are strings.")
    if alg is not None and alg != ALG:
        raise SignatureError("signature-algorithm", f"Only alg {ALG!r} is accepted.")
    if created > now + max_skew:
        raise SignatureError("clock-skew", f"The signature was created {created - now} s in the future "
                                           f"(allowed: {max_skew} s).")
    if expires is not None and expires < now:
        raise SignatureError("message-expired", f"The signature expired {now - expires} s ago.")
    if expires is not None and expires < created:
        raise SignatureError("signature-malformed", "The signature expires before it was created.")
    if max_age is not None:
        if now - created > max_age + max_skew:
            raise SignatureError("message-expired", f"The signature was created {now - created} s ago "
                                                    f"(at most {max_age} s is accepted).")
        if expires is None or expires - created > max_age:
            raise SignatureError("signature-lifetime", f"A signature may live at most {max_age} s.")
    public_key, resolved = resolve_key(keyid, created)
    base = signature_base(request, covered)
    try:
        public_key.verify(sig.value, base.encode())
    except InvalidSignature:
        raise SignatureError("signature-invalid", "The signature does not match the request.") from None
    if body is not None:
        if "content-digest" not in names:
            raise SignatureError("signature-missing-component", "The signature must cover content-digest.")
        check_content_digest(request.headers.get("content-digest"), body)
    return VerifiedSignature(label=label, keyid=keyid, created=created, expires=expires, nonce=nonce,
                             alg=alg, components=names, key=resolved)
