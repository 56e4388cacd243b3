"""The production Merkle arithmetic against the independent RFC 9162 implementation in
tests/audit/rfc9162.py, which is itself checked against Certificate Transparency's published
test vectors first."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eresident.audit import merkle
from tests.audit import rfc9162 as ref

# Certificate Transparency's reference test data (the RFC 6962 tree of 8 entries).
CT_ENTRIES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")]
CT_ROOTS = [bytes.fromhex(h) for h in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")]
CT_INCLUSION = [  # (leaf index, tree size, path)
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CT_CONSISTENCY = [  # (first, second, proof)
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]


def hexes(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


class MemoryTree:
    """Production appends into a dict of stored nodes, as the database keeps them."""

    def __init__(self, entries: list[bytes]):
        self.frontier: list[bytes] = []
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.roots = [merkle.EMPTY_ROOT]
        for index, entry in enumerate(entries):
            for level, idx, value in merkle.append(self.frontier, index, merkle.leaf_hash(entry)):
                assert (level, idx) not in self.nodes
                self.nodes[(level, idx)] = value
            self.roots.append(merkle.root_from_frontier(self.frontier))

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return merkle.inclusion_plan(index, size).assemble(self.nodes)

    def consistency(self, first: int, second: int) -> list[bytes]:
        return merkle.consistency_plan(first, second).assemble(self.nodes)

    def root(self, size: int) -> bytes:
        plan = merkle.root_plan(size)
        return plan.assemble(self.nodes)[0] if size else merkle.EMPTY_ROOT


# -- the reference against the published vectors ---------------------------------------------

def test_reference_matches_the_ct_vectors():
    for size, root in enumerate(CT_ROOTS):
        assert ref.MTH(CT_ENTRIES[:size]) == root
    for index, size, path in CT_INCLUSION:
        assert ref.PATH(index, CT_ENTRIES[:size]) == hexes(path)
        leaf = ref.HASH(b"\x00" + CT_ENTRIES[index])
        assert ref.verify_inclusion(index, size, leaf, hexes(path), CT_ROOTS[size])
        assert not ref.verify_inclusion(index, size, leaf, hexes(path), CT_ROOTS[size - 1])
    for first, second, proof in CT_CONSISTENCY:
        assert ref.PROOF(first, CT_ENTRIES[:second]) == hexes(proof)
        assert ref.verify_consistency(first, second, CT_ROOTS[first], CT_ROOTS[second], hexes(proof))


# -- production against the vectors and the reference ------------------------------------------

def test_production_matches_the_ct_vectors():
    tree = MemoryTree(CT_ENTRIES)
    assert tree.roots == CT_ROOTS
    assert [tree.root(size) for size in range(9)] == CT_ROOTS
    for index, size, path in CT_INCLUSION:
        assert tree.inclusion(index, size) == hexes(path)
        assert merkle.verify_inclusion(merkle.leaf_hash(CT_ENTRIES[index]), index, size, hexes(path),
                                       CT_ROOTS[size])
    for first, second, proof in CT_CONSISTENCY:
        assert tree.consistency(first, second) == hexes(proof)
        assert merkle.verify_consistency(first, second, CT_ROOTS[first], CT_ROOTS[second], hexes(proof))


def test_every_proof_of_every_small_tree_equals_the_reference():
    entries = [hashlib.sha256(str(i).encode()).digest() for i in range(70)]
    tree = MemoryTree(entries)
    for size in range(1, len(entries) + 1):
        root = ref.MTH(entries[:size])
        assert tree.roots[size] == root == tree.root(size)
        for index in range(size):
            path = tree.inclusion(index, size)
            assert path == ref.PATH(index, entries[:size])
            assert ref.verify_inclusion(index, size, ref.HASH(b"\x00" + entries[index]), path, root)
        for first in range(1, size + 1):
            proof = tree.consistency(first, size)
            assert proof == ref.PROOF(first, entries[:size])
            assert ref.verify_consistency(first, size, ref.MTH(entries[:first]), root, proof)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), size=st.integers(min_value=1, max_value=1100))
def test_proofs_of_larger_trees_verify_with_the_reference(data, size):
    entries = [i.to_bytes(4, "big") for i in range(size)]
    tree = MemoryTree(entries)
    root = tree.roots[size]
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    path = tree.inclusion(index, size)
    assert ref.verify_inclusion(index, size, ref.HASH(b"\x00" + entries[index]), path, root)
    assert len(path) <= (size - 1).bit_length()
    first = data.draw(st.integers(min_value=1, max_value=size), label="first")
    proof = tree.consistency(first, size)
    assert ref.verify_consistency(first, size, tree.roots[first], root, proof)
    assert len(proof) <= (size - 1).bit_length() + 1


@settings(max_examples=100, deadline=None)
@given(data=st.data(), size=st.integers(min_value=2, max_value=300))
def test_production_verifiers_accept_reference_proofs_and_nothing_altered(data, size):
    entries = [i.to_bytes(3, "big") for i in range(size)]
    root = ref.MTH(entries)
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    leaf = ref.HASH(b"\x00" + entries[index])
    path = ref.PATH(index, entries)
    assert merkle.verify_inclusion(leaf, index, size, path, root)
    other = (index + 1) % size
    assert not merkle.verify_inclusion(leaf, other, size, path, root)
    if path:
        flipped = [path[0][:-1] + bytes([path[0][-1] ^ 1])] + path[1:]
        assert not merkle.verify_inclusion(leaf, index, size, flipped, root)
        assert not merkle.verify_inclusion(leaf, index, size, path[:-1], root)
    assert not merkle.verify_inclusion(leaf, index, size, path + [root], root)

    first = data.draw(st.integers(min_value=1, max_value=size - 1))
    proof = ref.PROOF(first, entries)
    first_root = ref.MTH(entries[:first])
    assert merkle.verify_consistency(first, size, first_root, root, proof)
    assert not merkle.verify_consistency(first, size, root, root, proof)
    assert not merkle.verify_consistency(first, size, first_root, first_root, proof)
    assert not merkle.verify_consistency(first, size, first_root, root, proof[:-1])
    assert not merkle.verify_consistency(first, size, first_root, root, proof + [root])
    assert not merkle.verify_consistency(first, size, first_root, root, [])


def test_degenerate_requests_and_proofs():
    with pytest.raises(merkle.ProofError):
        merkle.inclusion_plan(3, 3)
    with pytest.raises(merkle.ProofError):
        merkle.inclusion_plan(-1, 3)
    with pytest.raises(merkle.ProofError):
        merkle.consistency_plan(0, 3)
    with pytest.raises(merkle.ProofError):
        merkle.consistency_plan(4, 3)
    with pytest.raises(merkle.MissingNode, match="missing"):
        merkle.inclusion_plan(0, 2).assemble({})
    assert merkle.consistency_plan(3, 3).assemble({}) == []
    assert merkle.root_plan(0).assemble({}) == []
    assert merkle.fold([]) == merkle.EMPTY_ROOT
    assert merkle.root_from_frontier([]) == merkle.EMPTY_ROOT
    leaf = merkle.leaf_hash(b"x")
    assert merkle.verify_inclusion(leaf, 0, 1, [], leaf)
    assert not merkle.verify_inclusion(leaf, 1, 1, [], leaf)
    assert not merkle.verify_inclusion(leaf, 0, 1, [leaf], leaf)
    assert merkle.verify_consistency(2, 2, leaf, leaf, [])
    assert not merkle.verify_consistency(2, 2, leaf, leaf, [leaf])
    assert not merkle.verify_consistency(0, 2, leaf, leaf, [leaf])
    assert not merkle.verify_consistency(3, 2, leaf, leaf, [leaf])
    with pytest.raises(merkle.ProofError):
        merkle.root_from_inclusion(leaf, 5, 2, [])


def test_frontier_keys_name_the_complete_subtrees():
    assert merkle.frontier_keys(0) == []
    assert merkle.frontier_keys(1) == [(0, 0)]
    assert merkle.frontier_keys(6) == [(2, 0), (1, 2)]
    assert merkle.frontier_keys(13) == [(3, 0), (2, 2), (0, 12)]
    assert merkle.split_frontier(b"a" * 32 + b"b" * 32) == [b"a" * 32, b"b" * 32]
