import random

import pytest

from apps.audit import proofs
from apps.audit.services import checkpoint_sign
from apps.audit.verifier import root_from_leaf_hashes, verify_consistency, verify_inclusion
from tests.audit.logdata import append_entries

pytestmark = pytest.mark.django_db


def test_root_hash_of_every_size_equals_the_rfc6962_root_of_the_leaves():
    leaves = append_entries(70)
    checkpoint_sign()
    for size in range(71):
        assert proofs.root_hash(tree_size=size) == root_from_leaf_hashes(leaves[:size]), size


def test_inclusion_proofs_verify_for_every_index_and_size_up_to_70():
    leaves = append_entries(70)
    checkpoint_sign()
    for size in range(1, 71):
        root = root_from_leaf_hashes(leaves[:size])
        for index in range(size):
            proof = proofs.inclusion_proof(index=index, tree_size=size)
            verify_inclusion(leaf_index=index, tree_size=size, leaf_hash=leaves[index], proof=proof, root=root)


def test_consistency_proofs_verify_for_every_pair_of_sizes_up_to_70():
    leaves = append_entries(70)
    checkpoint_sign()
    roots = [root_from_leaf_hashes(leaves[:size]) for size in range(71)]
    for new_size in range(1, 71):
        for old_size in range(1, new_size + 1):
            proof = proofs.consistency_proof(old_size=old_size, new_size=new_size)
            verify_consistency(
                old_size=old_size, new_size=new_size, old_root=roots[old_size], new_root=roots[new_size], proof=proof
            )


def test_proofs_span_several_checkpoints_integrated_in_steps():
    leaves = []
    rng = random.Random(7)
    for _ in range(6):
        leaves = append_entries(rng.randint(1, 40))
        checkpoint_sign()
    size = len(leaves)
    root = root_from_leaf_hashes(leaves)
    for index in range(size):
        verify_inclusion(
            leaf_index=index, tree_size=size, leaf_hash=leaves[index],
            proof=proofs.inclusion_proof(index=index, tree_size=size), root=root,
        )


def test_a_proof_past_the_latest_checkpoint_is_refused_until_the_tree_is_integrated():
    append_entries(5)
    checkpoint_sign()
    append_entries(3)
    with pytest.raises(proofs.ProofError, match="integrated only up to the latest checkpoint"):
        proofs.inclusion_proof(index=6, tree_size=8)
    checkpoint_sign()
    assert len(proofs.inclusion_proof(index=6, tree_size=8)) == 3


@pytest.mark.parametrize(
    ("old_size", "new_size"), [(-1, 3), (4, 3), (0, 3)], ids=["negative-old", "old-above-new", "from-empty-tree"]
)
def test_consistency_proof_refuses_impossible_sizes(old_size, new_size):
    append_entries(4)
    checkpoint_sign()
    with pytest.raises(proofs.ProofError):
        proofs.consistency_proof(old_size=old_size, new_size=new_size)


@pytest.mark.parametrize(("index", "size"), [(-1, 3), (3, 3), (0, 0)], ids=["negative", "equal-to-size", "empty-tree"])
def test_inclusion_proof_refuses_an_index_outside_the_tree(index, size):
    append_entries(3)
    checkpoint_sign()
    with pytest.raises(proofs.ProofError, match="is not in a tree"):
        proofs.inclusion_proof(index=index, tree_size=size)
