"""Known answers: RFC 6962 hashes, transparency-dev/merkle proof vectors, C2SP signed-note examples.

The vector files are copied into tests/audit/vectors/ (see the README there for sources, licences
and the one edge case Docket had to decide).
"""

import base64
import json
from pathlib import Path

import pytest

from apps.audit import encoding
from apps.audit.verifier import (
    VerificationError,
    hash_children,
    hash_leaf,
    open_note,
    parse_vkey,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).parent / "vectors"
PROOFS = VECTORS / "rfc6962-proofs"
SIGNED_NOTE = json.loads((VECTORS / "signed-note.json").read_text())


def _files(kind: str) -> list[Path]:
    return sorted((PROOFS / kind).rglob("*.json"))


def _b64(value) -> bytes:
    return base64.b64decode(value) if value is not None else b""


def _case_id(path: Path) -> str:
    return str(path.relative_to(PROOFS))


def test_every_vector_file_is_present():
    # 196 proof files (98 + 98) from transparency-dev/merkle: losing some would silently shrink coverage.
    assert len(_files("inclusion")) + len(_files("consistency")) == 196
    assert any(json.loads(p.read_text())["wantErr"] is False for p in _files("inclusion"))
    assert any(json.loads(p.read_text())["wantErr"] is True for p in _files("consistency"))


@pytest.mark.parametrize("path", _files("inclusion"), ids=_case_id)
def test_inclusion_vector_is_accepted_exactly_when_it_is_valid(path):
    case = json.loads(path.read_text())

    def verify():
        verify_inclusion(
            leaf_index=case["leafIdx"],
            tree_size=case["treeSize"],
            leaf_hash=_b64(case["leafHash"]),
            proof=[_b64(node) for node in case["proof"] or []],
            root=_b64(case["root"]),
        )

    if case["wantErr"]:
        with pytest.raises(VerificationError):
            verify()
    else:
        verify()


@pytest.mark.parametrize("path", _files("consistency"), ids=_case_id)
def test_consistency_vector_is_accepted_exactly_when_it_is_valid(path):
    case = json.loads(path.read_text())

    def verify():
        verify_consistency(
            old_size=case["size1"],
            new_size=case["size2"],
            old_root=_b64(case["root1"]),
            new_root=_b64(case["root2"]),
            proof=[_b64(node) for node in case["proof"] or []],
        )

    if case["wantErr"]:
        with pytest.raises(VerificationError):
            verify()
    else:
        verify()


def test_equal_sizes_with_short_roots_are_accepted_as_the_vector_requires():
    # The documented edge case: equal sizes, empty proof, identical 12-byte roots.
    case = json.loads(
        (PROOFS / "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json").read_text()
    )
    assert len(_b64(case["root1"])) == 12 and case["wantErr"] is False
    verify_consistency(
        old_size=1, new_size=1, old_root=_b64(case["root1"]), new_root=_b64(case["root2"]), proof=[]
    )


def test_empty_trees_must_carry_the_empty_tree_root():
    empty = root_from_leaf_hashes([])
    verify_consistency(old_size=0, new_size=0, old_root=empty, new_root=empty, proof=[])
    with pytest.raises(VerificationError, match="empty tree"):
        verify_consistency(old_size=0, new_size=0, old_root=b"x" * 32, new_root=b"x" * 32, proof=[])


def test_rfc6962_leaf_hash_of_the_empty_string_and_root_of_the_empty_tree():
    hashes = SIGNED_NOTE["rfc6962_hashes"]
    assert hash_leaf(b"").hex() == hashes["leaf_hash_of_empty"]
    assert encoding.leaf_hash(b"").hex() == hashes["leaf_hash_of_empty"]
    assert root_from_leaf_hashes([]).hex() == hashes["empty_tree_root"]


def test_rfc6962_root_of_the_eight_leaf_reference_tree():
    hashes = SIGNED_NOTE["rfc6962_hashes"]
    leaves = [hash_leaf(bytes.fromhex(value)) for value in hashes["eight_leaves_hex"]]
    assert root_from_leaf_hashes(leaves).hex() == hashes["root_of_all_eight"]
    # The same root by the textbook recursion, level by level, and via the encoding module's node hash.
    level = leaves
    while len(level) > 1:
        level = [encoding.node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    assert level[0].hex() == hashes["root_of_all_eight"]
    assert hash_children(leaves[0], leaves[1]) == encoding.node_hash(leaves[0], leaves[1])


@pytest.mark.parametrize("example", ["ed25519_go_example", "c2sp_spec_example"])
def test_signed_note_examples_verify_with_their_verifier_keys(example):
    case = SIGNED_NOTE[example]
    key = parse_vkey(case["verifier_key"])
    text, verified = open_note(case["signed_note"], [key])
    assert verified == [key]
    assert case["signed_note"].startswith(text + "\n\u2014 ")
    if "text" in case:
        assert text == case["text"]


@pytest.mark.parametrize("example", ["ed25519_go_example", "c2sp_spec_example"])
def test_signed_note_examples_are_refused_when_the_text_changes(example):
    case = SIGNED_NOTE[example]
    tampered = case["signed_note"].replace("is", "IS", 1)
    with pytest.raises(VerificationError, match="does not verify"):
        open_note(tampered, [parse_vkey(case["verifier_key"])])


def test_a_note_signed_only_by_an_unknown_key_is_refused():
    go = SIGNED_NOTE["ed25519_go_example"]
    c2sp_key = parse_vkey(SIGNED_NOTE["c2sp_spec_example"]["verifier_key"])
    with pytest.raises(VerificationError, match="not signed by any trusted key"):
        open_note(go["signed_note"], [c2sp_key])
