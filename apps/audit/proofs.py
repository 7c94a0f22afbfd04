"""RFC 9162 §2.1 Merkle proofs and tree heads, read from the stored perfect-subtree hashes (TreeNode).

Every hash a proof needs is the hash of a range of leaves [start, end). Such a range splits into at
most log2(n) perfect subtrees, each stored as one TreeNode, so a proof costs one indexed query for
O(log n) rows whatever the size of the log. Only the integrated part of the tree can be proven: the
tree is integrated up to the latest checkpoint (apps.audit.services.checkpoint_sign).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from .verifier import EMPTY_TREE_ROOT, hash_children

Range = tuple[int, int]
Position = tuple[int, int]  # (level, index) of a perfect subtree


class ProofError(ValueError):
    """The proof asked for does not exist (bad sizes or index) or the tree is not integrated that far."""


def _largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def perfect_subtrees(start: int, end: int) -> list[Position]:
    """The perfect subtrees that make up leaves [start, end), left to right, largest first.

    For the ranges RFC 9162 uses (start aligned to the size of the range's left part), this is
    exactly the split MTH performs, so folding these hashes right to left gives MTH(D[start:end]).
    """
    positions = []
    while start < end:
        level = (end - start).bit_length() - 1
        while start & ((1 << level) - 1):
            level -= 1
        positions.append((level, start >> level))
        start += 1 << level
    return positions


def inclusion_ranges(index: int, tree_size: int) -> list[Range]:
    """The ranges whose hashes form PATH(index, D[0:tree_size]) (RFC 9162 §2.1.3.1), leaf side first."""
    ranges: list[Range] = []
    lo, hi = 0, tree_size
    while hi - lo > 1:
        k = _largest_power_of_two_below(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo = lo + k
    ranges.reverse()
    return ranges


def consistency_ranges(old_size: int, new_size: int) -> list[Range]:
    """The ranges whose hashes form PROOF(old_size, D[0:new_size]) (RFC 9162 §2.1.4.1)."""
    if old_size == new_size:
        return []
    ranges: list[Range] = []
    lo, hi, complete_subtree_known = 0, new_size, True
    while True:
        if old_size == hi:
            if not complete_subtree_known:
                ranges.append((lo, hi))
            break
        k = _largest_power_of_two_below(hi - lo)
        if old_size <= lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, complete_subtree_known = lo + k, False
    ranges.reverse()
    return ranges


def fetch_nodes(positions: Iterable[Position]) -> dict[Position, bytes]:
    """Reads the stored hashes of the given perfect subtrees in one query."""
    wanted = sorted(set(positions))
    if not wanted:
        return {}
    placeholders = ",".join(["(%s,%s)"] * len(wanted))
    params = [value for position in wanted for value in position]
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT "level", "index", "hash" FROM audit_treenode WHERE ("level", "index") IN ({placeholders})',
            params,
        )
        return {(level, index): bytes(node_hash) for level, index, node_hash in cursor.fetchall()}


def _range_hashes(ranges: list[Range]) -> list[bytes]:
    decompositions = [perfect_subtrees(start, end) for start, end in ranges]
    nodes = fetch_nodes(position for positions in decompositions for position in positions)
    hashes = []
    for (start, end), positions in zip(ranges, decompositions, strict=True):
        try:
            parts = [nodes[position] for position in positions]
        except KeyError as exc:
            level, index = exc.args[0]
            raise ProofError(
                f"The Merkle tree has no node {level}/{index} (entries {index << level}–{((index + 1) << level) - 1}); "
                f"it is integrated only up to the latest checkpoint."
            ) from None
        value = parts[-1]
        for left in reversed(parts[:-1]):
            value = hash_children(left, value)
        hashes.append(value)
    return hashes


def root_hash(*, tree_size: int) -> bytes:
    """MTH(D[0:tree_size]): the root of the first `tree_size` entries; SHA-256("") for none."""
    if tree_size < 0:
        raise ProofError("A tree size cannot be negative.")
    if tree_size == 0:
        return EMPTY_TREE_ROOT
    return _range_hashes([(0, tree_size)])[0]


def inclusion_proof(*, index: int, tree_size: int) -> list[bytes]:
    """The RFC 9162 inclusion proof of entry `index` in the tree of `tree_size` entries."""
    if not 0 <= index < tree_size:
        raise ProofError(f"Entry {index} is not in a tree of {tree_size} entries.")
    return _range_hashes(inclusion_ranges(index, tree_size))


def consistency_proof(*, old_size: int, new_size: int) -> list[bytes]:
    """The RFC 9162 consistency proof that the tree of `old_size` entries is a prefix of `new_size`.

    Empty when the sizes are equal. A proof from the empty tree does not exist (every tree extends
    it), so old_size must be at least 1 unless both sizes are 0.
    """
    if old_size < 0 or old_size > new_size:
        raise ProofError(f"No consistency proof from {old_size} to {new_size} entries: sizes must satisfy 0 <= old <= new.")
    if old_size == 0 and new_size > 0:
        raise ProofError("A consistency proof needs an old size of at least 1; every tree extends the empty tree.")
    return _range_hashes(consistency_ranges(old_size, new_size))
