"""The trust list fails closed, survives refreshes, and lets keys rotate without downtime; the
retry schedule backs off exponentially, with jitter, up to its cap."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from joserfc.jwk import OKPKey

from eresident.config import Settings
from eresident.federation import trust
from eresident.federation.httpsig import SignatureError
from eresident.federation.keys import iso, node_keys
from eresident.federation.service import retry_delay
from eresident.kit.clock import FrozenClock

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def jwk(kid: str, *, start: datetime = T0 - timedelta(days=1), days: int = 30, **extra) -> dict:
    public = OKPKey.generate_key("Ed25519", private=True).as_dict(private=False)
    return {**public, "kid": kid, "not_before": iso(start), "not_after": iso(start + timedelta(days=days)),
            **extra}


def peer_doc(region: str = "TF", *keys: dict, base_url: str = "http://tf.test") -> dict:
    return {"region": region, "name": f"Region {region}", "base_url": base_url,
            "keys": list(keys) or [jwk(f"{region}-1")]}


def refused(trust_list: trust.TrustList, kid: str, at: datetime) -> str:
    with pytest.raises(SignatureError) as err:
        trust_list.resolve(kid, at)
    return err.value.code


def test_unknown_expired_not_yet_valid_and_revoked_keys_fail_closed():
    current = jwk("TF-1")
    future = jwk("TF-2", start=T0 + timedelta(days=7))
    trusted = trust.TrustList([trust.parse_node_keys(peer_doc("TF", current, future), own_region="LJ")])
    assert trusted.resolve("TF-1", T0).region == "TF"
    assert refused(trusted, "TF-9", T0) == "key-unknown"
    assert refused(trusted, "TF-2", T0) == "key-not-yet-valid"
    assert refused(trusted, "TF-1", T0 + timedelta(days=30)) == "key-expired"
    revoked = trust.revoke(trusted, "TF-1")
    assert refused(revoked, "TF-1", T0) == "key-revoked"
    assert trust.TrustList([]).peers == {} and refused(trust.TrustList([]), "TF-1", T0) == "key-unknown"


def test_rotation_both_keys_are_accepted_where_their_windows_overlap():
    old = jwk("TF-1", days=30)
    new = jwk("TF-2", start=T0 + timedelta(days=20), days=365)
    trusted = trust.TrustList([trust.parse_node_keys(peer_doc("TF", old, new), own_region="LJ")])
    overlap = T0 + timedelta(days=25)
    assert {trusted.resolve(kid, overlap).kid for kid in ("TF-1", "TF-2")} == {"TF-1", "TF-2"}
    assert trusted.resolve("TF-2", T0 + timedelta(days=100)).kid == "TF-2"


def test_a_node_signs_with_its_next_key_from_its_start(tmp_path):
    settings = Settings(region="LJ", data_dir=tmp_path, base_url="http://lj.test")
    keys = node_keys(settings)
    first = keys.signing_key(T0)
    nxt = keys.add_next(now=T0, not_before=T0 + timedelta(days=7), days=365)
    assert [k.kid for k in keys.published(T0)] == [first.kid, nxt.kid]  # published before use
    assert keys.signing_key(T0 + timedelta(days=6)).kid == first.kid
    assert keys.signing_key(T0 + timedelta(days=7)).kid == nxt.kid
    stored = json.loads((tmp_path / "keys" / "federation-signing.jwks.json").read_text())
    assert len(stored["keys"]) == 2 and all("d" in k for k in stored["keys"])
    assert all("d" not in k for k in keys.document(T0)["keys"])
    later = T0 + timedelta(days=settings.federation_key_validity_days + 1)
    assert [k.kid for k in keys.published(later)] == [nxt.kid]  # the expired one is no longer offered


def test_refreshing_a_peer_adds_keys_keeps_revocations_and_refuses_a_changed_key():
    one, two = jwk("TF-1"), jwk("TF-2", start=T0 + timedelta(days=7))
    trusted, change = trust.merge_peer(trust.TrustList([]),
                                       trust.parse_node_keys(peer_doc("TF", one), own_region="LJ"), now=T0)
    assert change.is_new_peer and [k.kid for k in change.new_keys] == ["TF-1"]
    trusted = trust.revoke(trusted, "TF-1")
    trusted, change = trust.merge_peer(trusted, trust.parse_node_keys(peer_doc("TF", one, two), own_region="LJ"),
                                       now=T0)
    assert not change.is_new_peer and [k.kid for k in change.new_keys] == ["TF-2"]
    assert trusted.key("TF-1").revoked  # a peer's document cannot un-revoke a key
    # A key the peer stops publishing stays until it expires (messages in flight), then goes.
    trusted, change = trust.merge_peer(trusted, trust.parse_node_keys(peer_doc("TF", two), own_region="LJ"),
                                       now=T0)
    assert trusted.key("TF-1") is not None and change.dropped_keys == []
    trusted, change = trust.merge_peer(trusted, trust.parse_node_keys(peer_doc("TF", two), own_region="LJ"),
                                       now=T0 + timedelta(days=60))
    assert trusted.key("TF-1") is None and [k.kid for k in change.dropped_keys] == ["TF-1"]
    swapped = dict(two, x=jwk("other")["x"])
    with pytest.raises(trust.TrustError, match="changed its public key"):
        trust.merge_peer(trusted, trust.parse_node_keys(peer_doc("TF", swapped), own_region="LJ"), now=T0)


def test_any_number_of_peers_and_no_duplicate_kids():
    peers = [trust.parse_node_keys(peer_doc(region, base_url=f"http://{region.lower()}.test"), own_region="LJ")
             for region in ("TF", "XA", "HN")]
    trusted = trust.TrustList(peers)
    assert sorted(trusted.peers) == ["HN", "TF", "XA"]
    reloaded = trust.TrustList.from_json(json.loads(json.dumps(trusted.to_json())))
    assert reloaded.peers.keys() == trusted.peers.keys()
    with pytest.raises(trust.TrustError, match="listed twice"):
        trust.TrustList([trust.parse_node_keys(peer_doc("TF", jwk("K")), own_region="LJ"),
                         trust.parse_node_keys(peer_doc("XA", jwk("K")), own_region="LJ")])


@pytest.mark.parametrize("document,message", [
    (peer_doc("LJ"), "own region"),
    ({**peer_doc(), "region": "tf"}, "region code"),
    ({**peer_doc(), "base_url": "ftp://x"}, "base_url"),
    ({**peer_doc(), "keys": []}, "no keys"),
    (peer_doc("TF", {**jwk("K"), "d": "secret"}), "private key"),
    (peer_doc("TF", {**jwk("K"), "crv": "P-256"}), "not an Ed25519"),
    (peer_doc("TF", jwk("K", days=0)), "ends before"),
    (peer_doc("TF", {**jwk("K"), "not_after": "tomorrow"}), "not_after"),
    (["not", "an", "object"], "not a JSON object"),
])
def test_bad_peer_documents_are_refused(document, message):
    with pytest.raises(trust.TrustError, match=message):
        trust.parse_node_keys(document, own_region="LJ")


def test_the_trust_file_is_reread_when_it_changes(tmp_path):
    settings = Settings(region="LJ", data_dir=tmp_path)
    assert trust.load_trust(settings).peers == {}
    trust.save_trust(settings, trust.TrustList([trust.parse_node_keys(peer_doc(), own_region="LJ")]))
    assert list(trust.load_trust(settings).peers) == ["TF"]
    trust.save_trust(settings, trust.revoke(trust.load_trust(settings), "TF-1"))
    assert trust.load_trust(settings).key("TF-1").revoked


def test_fingerprints_are_rfc7638_thumbprints():
    # RFC 8037 Appendix A.3: the thumbprint of the example Ed25519 public key.
    key = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert trust.fingerprint(key) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_retry_schedule_backs_off_with_jitter_up_to_the_cap():
    rng = random.Random(7)
    base, cap = 2.0, 600.0
    for attempts in range(1, 40):
        ceiling = min(cap, base * 2 ** (attempts - 1))
        delays = [retry_delay(attempts, base=base, cap=cap, rng=rng) for _ in range(50)]
        assert all(max(1.0, ceiling / 2) <= d <= max(1.0, ceiling) for d in delays)
        assert len(set(delays)) > 1  # jittered
    assert retry_delay(10_000, base=base, cap=cap, rng=rng) <= cap  # no overflow, still capped
    assert retry_delay(1, base=0.01, cap=cap, rng=rng) == 1.0  # never sooner than a second


def test_frozen_clock_keys_are_valid_at_creation(tmp_path):
    clock = FrozenClock(T0)
    keys = node_keys(Settings(region="TF", data_dir=tmp_path / str(uuid.uuid4())))
    assert keys.signing_key(clock.now()).covers(clock.now())


def test_a_peer_cannot_claim_another_regions_credential_issuer():
    """Found in review: a peer publishing TF's issuer URL with keys of its own would have had its
    credentials accepted as TF's e-residents. A node's issuer must be its own address, and one
    issuer belongs to one region."""
    def with_issuer(doc: dict, issuer: str) -> dict:
        key = OKPKey.generate_key("Ed25519", private=True).as_dict(private=False)
        return {**doc, "credential_issuer": {"issuer": issuer, "keys": [{**key, "kid": f"{doc['region']}-cred"}]}}

    tf = with_issuer(peer_doc("TF"), "http://tf.test")
    assert trust.TrustList.from_json({"peers": [tf]}).peers["TF"].credential_issuer == "http://tf.test"
    impostor = with_issuer(peer_doc("EV", base_url="http://ev.test"), "http://tf.test")
    with pytest.raises(trust.TrustError, match="not its own address"):
        trust.TrustList.from_json({"peers": [tf, impostor]})
