"""Audit trail extract for one subject or a time range: the entries in readable form, the signed
checkpoint that covers them and the result of verifying them against it when the document was made
(21 CFR Part 11 §11.10(e); EU AI Act Art. 12)."""

from __future__ import annotations

import datetime as dt
import json

from apps.audit import proofs
from apps.audit.actions import Action
from apps.audit.models import AuditEntry, Checkpoint
from apps.audit.verifier import VerificationError, hash_leaf, open_note, parse_vkey, verify_inclusion
from apps.common.errors import ValidationFailed

from .. import facts as f
from . import blocks
from .style import heading, key_values, para, status_text, table

KIND_TITLE = "Audit trail extract"
MAX_ENTRIES = 5000


def _label(action: str) -> str:
    try:
        return Action(action).label
    except ValueError:
        return action


def select_entries(parameters: dict, snap: f.Snapshot):
    """Entries below the checkpoint matching the subject and/or the `since <= t < until` window."""
    entries = AuditEntry.objects.filter(index__lt=snap.tree_size)
    if parameters.get("subject_type"):
        entries = entries.filter(subject_type=parameters["subject_type"], subject_id=str(parameters["subject_id"]))
    if parameters.get("since"):
        entries = entries.filter(timestamp__gte=dt.datetime.fromisoformat(parameters["since"]))
    if parameters.get("until"):
        entries = entries.filter(timestamp__lt=dt.datetime.fromisoformat(parameters["until"]))
    return entries.order_by("index")


def gather(parameters: dict, snap: f.Snapshot) -> dict:
    entries = list(select_entries(parameters, snap)[: MAX_ENTRIES + 1])
    if len(entries) > MAX_ENTRIES:
        raise ValidationFailed(f"The extract would hold more than {MAX_ENTRIES} entries; narrow the subject or "
                               "the time range.")
    checkpoint = Checkpoint.objects.select_related("signing_key").get(tree_size=snap.tree_size)
    root = bytes(checkpoint.root_hash)
    failures = []
    try:
        open_note(checkpoint.note, [parse_vkey(checkpoint.signing_key.vkey)])
        signature = f"valid, signed by {checkpoint.signing_key.name} ({checkpoint.signing_key.key_id})"
    except VerificationError as exc:
        signature = f"INVALID: {exc}"
        failures.append(f"checkpoint {snap.tree_size}: {exc}")
    rows = []
    for entry in entries:
        leaf = hash_leaf(bytes(entry.encoded))
        try:
            if leaf != bytes(entry.leaf_hash):
                raise VerificationError("the stored leaf hash does not match the entry's bytes")
            verify_inclusion(leaf_index=entry.index, tree_size=snap.tree_size, leaf_hash=leaf,
                             proof=proofs.inclusion_proof(index=entry.index, tree_size=snap.tree_size), root=root)
        except (VerificationError, proofs.ProofError) as exc:
            failures.append(f"entry {entry.index}: {exc}")
        rows.append({
            "index": entry.index, "timestamp": f.when(entry.timestamp),
            "actor": f"{entry.actor_name} ({entry.actor_type})", "action": entry.action,
            "action_label": _label(entry.action),
            "subject": f"{entry.subject_label} [{entry.subject_type} {entry.subject_id}]",
            "data": json.dumps(entry.data, sort_keys=True, ensure_ascii=False), "leaf_hash": leaf.hex(),
        })
    subjects = ({parameters["subject_type"]: [parameters["subject_id"]]} if parameters.get("subject_type") else {})
    return {
        "selection": {key: parameters.get(key) for key in ("subject_type", "subject_id", "since", "until")},
        "entries": rows,
        "verification": {"checkpoint_signature": signature, "entries_checked": len(rows),
                         "failures": failures, "verified": not failures},
        "audit_index_first": rows[0]["index"] if rows else f.first_index_about(subjects, snap),
    }


def story(facts: dict) -> list:
    selection, verification = facts["selection"], facts["verification"]
    described = []
    if selection["subject_type"]:
        described.append(f"subject {selection['subject_type']} {selection['subject_id']}")
    if selection["since"] or selection["until"]:
        described.append(f"from {selection['since'] or 'the start'} until {selection['until'] or 'the checkpoint'}")
    snapshot = facts["document"]["snapshot"]
    story = blocks.cover(KIND_TITLE, "; ".join(described) or "the whole log", [
        ("Selection", "; ".join(described) or "every entry"),
        ("Entries", str(len(facts["entries"]))),
        ("Covering checkpoint", f"tree size {snapshot['tree_size']}, root {snapshot['root_hash']}"),
        ("Verification at generation", para(status_text("passed" if verification["verified"] else "failed"),
                                            "cell", markup=True)),
    ])
    story.append(heading("Verification at generation time"))
    story.append(key_values([
        ("Checkpoint signature", verification["checkpoint_signature"]),
        ("Entries checked", f"{verification['entries_checked']}: leaf hash recomputed from the canonical bytes and "
                            f"the RFC 9162 inclusion proof verified against the checkpoint root"),
        ("Result", "every entry verified" if verification["verified"] else "\n".join(verification["failures"])),
    ]))
    story.append(heading("Entries"))
    story.append(table(["index", "time (UTC)", "actor", "action", "subject", "data"],
                       [[str(row["index"]), row["timestamp"].replace(" UTC", ""), row["actor"],
                         f"{row['action_label']}\n{row['action']}", row["subject"], row["data"][:600]]
                        for row in facts["entries"]],
                       widths=[0.5, 1.1, 1.1, 2.0, 1.4, 2.9], mono_columns=[5]))
    return story
