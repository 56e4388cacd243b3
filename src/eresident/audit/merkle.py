"""RFC 9162 Merkle tree arithmetic: hashing, appending to a frontier, planning and checking proofs.

No database here. A tree of n leaves is stored as its complete subtrees: node (level, index)
is the hash of leaves [index * 2**level, (index + 1) * 2**level). Every hash an RFC 9162 proof
needs is either one stored node or the hash of a right-edge range, which is a right fold of at
most log2(n) stored nodes; `*_plan` functions say which nodes, `*_from_nodes` assemble the proof.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) = SHA-256()

NodeKey = tuple[int, int]  # (level, index)


class ProofError(ValueError):
    """A proof request that cannot be answered (sizes out of range) or a proof that does not verify."""


class MissingNode(LookupError):
    """A stored node a proof needs is not there: the stored tree is damaged (run the verifier)."""


def leaf_hash(leaf_input: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d)."""
    return hashlib.sha256(b"\x00" + leaf_input).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


# -- appending -----------------------------------------------------------------------------

def append(frontier: list[bytes], size: int, leaf: bytes) -> list[tuple[int, int, bytes]]:
    """Append one leaf hash to a tree of `size` leaves whose frontier (the roots of its complete
    subtrees, largest first) is `frontier`, which is updated in place. Returns the new stored
    nodes as (level, index, hash): the leaf itself and each subtree it completes."""
    created = [(0, size, leaf)]
    level, index, current = 0, size, leaf
    while index & 1:  # a left sibling exists: it is the frontier's smallest subtree
        current = node_hash(frontier.pop(), current)
        level += 1
        index >>= 1
        created.append((level, index, current))
    frontier.append(current)
    return created


def root_from_frontier(frontier: Sequence[bytes]) -> bytes:
    if not frontier:
        return EMPTY_ROOT
    root = frontier[-1]
    for left in reversed(frontier[:-1]):
        root = node_hash(left, root)
    return root


def frontier_keys(size: int) -> list[NodeKey]:
    """The complete subtrees of a tree of `size` leaves, largest (leftmost) first."""
    return blocks(0, size)


def split_frontier(blob: bytes) -> list[bytes]:
    return [blob[i:i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)]


# -- ranges and the stored nodes that cover them --------------------------------------------

def blocks(start: int, end: int) -> list[NodeKey]:
    """The aligned complete subtrees covering leaves [start, end), left to right. For the ranges
    RFC 9162 proofs use (each starts on a boundary at least as large as its length) their right
    fold is exactly MTH(D[start:end])."""
    keys: list[NodeKey] = []
    while start < end:
        size = 1 << ((end - start).bit_length() - 1)
        if start:
            size = min(size, start & -start)
        level = size.bit_length() - 1
        keys.append((level, start >> level))
        start += size
    return keys


def fold(hashes: Sequence[bytes]) -> bytes:
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def _inclusion_ranges(index: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """PATH(m, D[lo:hi]) as the leaf ranges whose hashes make it, leaf to root."""
    out: list[tuple[int, int]] = []
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo = lo + k
    out.reverse()
    return out


def _consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) as leaf ranges, in proof order."""
    out: list[tuple[int, int]] = []
    lo, hi, m, whole = 0, second, first, True
    while True:
        n = hi - lo
        if m == n:
            if not whole:
                out.append((lo, hi))
            break
        k = _split(n)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    out.reverse()
    return out


class Plan:
    """The leaf ranges whose hashes form a proof, and the stored nodes needed to hash them."""

    def __init__(self, ranges: list[tuple[int, int]]):
        self.ranges = ranges
        self.range_blocks = [blocks(lo, hi) for lo, hi in ranges]

    def keys(self) -> set[NodeKey]:
        return {key for group in self.range_blocks for key in group}

    def assemble(self, nodes: Mapping[NodeKey, bytes]) -> list[bytes]:
        try:
            return [fold([nodes[key] for key in group]) for group in self.range_blocks]
        except KeyError as exc:
            raise MissingNode(f"stored node {exc.args[0]} is missing") from None


def inclusion_plan(index: int, size: int) -> Plan:
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size} leaves")
    return Plan(_inclusion_ranges(index, 0, size))


def consistency_plan(first: int, second: int) -> Plan:
    if not 0 < first <= second:
        raise ProofError(f"no consistency proof from size {first} to size {second}")
    if first == second:
        return Plan([])
    return Plan(_consistency_ranges(first, second))


def root_plan(size: int) -> Plan:
    """The root of the tree at `size` as one 'range' (empty for size 0)."""
    return Plan([(0, size)] if size else [])


# -- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) -----------------------------------------

def root_from_inclusion(leaf: bytes, index: int, size: int, path: Iterable[bytes]) -> bytes:
    if not 0 <= index < size:
        raise ProofError("leaf index out of range")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return r


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
    try:
        return root_from_inclusion(leaf, index, size, path) == root
    except ProofError:
        return False


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the old root is a node of the new tree
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root
