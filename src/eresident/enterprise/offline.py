"""`eresident verify` without the network: whether a licence PDF is revoked, from a saved copy of
the issuing region's token status list and the region's credential keys (this node's own key,
the federation trust list, or a saved /.well-known/jwt-vc-issuer)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from eresident.config import Settings
from eresident.crypto import statuslist
from eresident.crypto.sdjwt import CredentialError
from eresident.documents.licence_pdf import signed_metadata

STATUS_NAMES = {statuslist.VALID: "valid", statuslist.INVALID: "revoked", statuslist.SUSPENDED: "suspended"}


@dataclass(frozen=True)
class IssuerKeys:
    """Credential issuers (base URLs) and their public JWKs, with where each came from."""

    keys: dict[str, list[dict]]
    sources: tuple[str, ...]

    def issuer_of(self, uri: str) -> str | None:
        """The issuer whose address the status list URI is under (a region publishes its own)."""
        for issuer in self.keys:
            if uri.startswith(issuer.rstrip("/") + "/"):
                return issuer
        return None


class KeyFileError(ValueError):
    """A --issuer-keys file that is not issuer metadata."""


def load_issuer_keys(settings: Settings, files: list[Path] | tuple[Path, ...] = ()) -> IssuerKeys:
    """This node's own credential key (DATA_DIR/keys/credential-signing.jwk.json, public part only),
    the credential keys of every peer in the federation trust list (revoked keys left out), and each
    file given: a saved `/.well-known/jwt-vc-issuer` ({"issuer": ..., "jwks": {"keys": [...]}})."""
    found: dict[str, list[dict]] = {}
    sources: list[str] = []

    def add(issuer: str, jwks: list, source: str) -> None:
        public = [{k: v for k, v in key.items() if k not in ("d", "p", "q", "dp", "dq", "qi", "k")}
                  for key in jwks if isinstance(key, dict) and not key.get("revoked")]
        if public:
            found.setdefault(issuer.rstrip("/"), []).extend(public)
            sources.append(source)

    own = settings.data_dir / "keys" / "credential-signing.jwk.json"
    if own.exists():
        add(settings.base_url, [json.loads(own.read_text())], str(own))
    from eresident.federation.trust import TrustError, load_trust, trust_path

    try:
        for peer in load_trust(settings).peers.values():
            if peer.credential_issuer:
                add(peer.credential_issuer, peer.credential_keys, f"{trust_path(settings)} ({peer.region})")
    except TrustError:
        pass  # an unreadable trust list gives no keys; the caller says none were found
    for path in files:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise KeyFileError(f"{path}: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("issuer"), str) \
                or not isinstance(data.get("jwks"), dict) or not isinstance(data["jwks"].get("keys"), list):
            raise KeyFileError(f"{path}: not issuer metadata ({{\"issuer\": ..., \"jwks\": {{\"keys\": [...]}}}}); "
                               "save it from the region's /.well-known/jwt-vc-issuer")
        add(data["issuer"], data["jwks"]["keys"], str(path))
    return IssuerKeys(found, tuple(sources))


def _iso(seconds: int | None) -> str | None:
    return datetime.fromtimestamp(seconds, UTC).isoformat() if seconds is not None else None


def licence_status(pdf: bytes, token: str | None, keys: IssuerKeys, *, now: datetime) -> dict:
    """The licence's status from a saved status list token. `checked` is true only when the answer
    is the current one: the token verified and was fresh, or it says the licence is revoked (final)."""
    meta = signed_metadata(pdf)
    if meta is None or meta.status is None:
        return {"checked": False, "reason": "no-status-entry",
                "message": "The licence names no status list entry (it was issued before licences carried one): "
                           "its current status was NOT checked. Use the verification page."}
    reference = {"uri": meta.status.uri, "index": meta.status.index}
    if token is None:
        return {"checked": False, "reason": "no-status-list", "status_list": reference,
                "message": "The current status was NOT checked: pass --status-list with a saved copy of "
                           f"{meta.status.uri} to check it offline, or use the verification page."}
    issuer = keys.issuer_of(meta.status.uri)
    if issuer is None:
        return {"checked": False, "reason": "no-issuer-key", "status_list": reference,
                "message": f"No key of the region that publishes {meta.status.uri} is known here: pass --issuer-keys "
                           "with a saved copy of its /.well-known/jwt-vc-issuer, or add the region to the trust list."}

    def resolve(_who: str, kid: str) -> dict | None:
        return next((k for k in keys.keys[issuer] if k.get("kid") == kid), None)

    try:
        reading = statuslist.read_saved_status_list_token(token.strip(), resolve_key=resolve, uri=meta.status.uri,
                                                          now=int(now.timestamp()))
        value = statuslist.status_of({"idx": meta.status.index}, reading.status_list)
    except CredentialError as exc:
        return {"checked": False, "reason": f"status-list-{exc.reason}", "status_list": reference,
                "message": f"The status list file cannot be used: {exc.message}. The current status was NOT "
                           "checked."}
    status = STATUS_NAMES.get(value, f"status {value}")
    result = {"status_list": reference, "status": status, "as_of": _iso(reading.issued_at),
              "list_expires_at": _iso(reading.expires_at), "issuer": issuer}
    if status == "revoked":
        return {**result, "checked": True, "current": False,
                "message": f"REVOKED: the status list (as of {result['as_of']}) marks this licence revoked. The "
                           "signature is genuine but the licence is not current; the verification page says "
                           "when and why."}
    if not reading.fresh:
        return {**result, "checked": False, "reason": "status-list-expired",
                "message": f"The licence was {status} as of {result['as_of']}, but this copy of the status list "
                           f"expired at {result['list_expires_at']}: the current status was NOT checked. Save a new "
                           "copy, or use the verification page."}
    return {**result, "checked": True, "current": status == "valid",
            "message": f"The status list (as of {result['as_of']}) says the licence is {status}."}
