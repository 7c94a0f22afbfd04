"""Lineage inquiry record: who asked, why, the question, the answer as the asker saw it (hidden nodes
only counted) and the signed audit checkpoint it reflects. Built from the saved `lineage.Inquiry` row
alone, so the same inquiry always gives the same bytes."""

from __future__ import annotations

import json

from reportlab.platypus import PageBreak

from . import blocks, docket_version
from .style import PageFrame, build_pdf, heading, key_values, para, table

KIND_TITLE = "Lineage inquiry record"


def _hidden(answer: dict) -> str:
    hidden = answer.get("hidden") or {}
    total = hidden.get("total", 0)
    if not total:
        return "none: every node the query reached is shown"
    by_depth = hidden.get("by_depth")
    detail = (", by depth " + ", ".join(f"{depth}: {count}" for depth, count in by_depth.items())) if by_depth else ""
    return (f"{total} node(s) the asker may not see were reached and are withheld{detail}; "
            "nothing beyond them is shown")


def _graph_story(graph: dict) -> list:
    rows = [[str(node["id"]), node["kind"], node["label"], str(node.get("depth", ""))] for node in graph["nodes"]]
    story = [para(f"Start: {', '.join(node['label'] for node in graph['start'])} · {graph['direction']} to depth "
                  f"{graph['depth']} · as of {graph['as_of']}"),
             table(["node", "kind", "label", "depth"], rows or [["—", "—", "no visible node", "—"]],
                   widths=[0.6, 1.2, 4.6, 0.6])]
    edges = [[e["kind"], str(e["source"]), str(e["target"]), e["valid_from"], e["valid_to"] or "still true"]
             for e in graph["edges"]]
    if edges:
        story.append(table(["relation", "from", "to", "true from", "until"], edges, widths=[1.3, 0.6, 0.6, 2.2, 2.2]))
    return story


def _answer_story(kind: str, answer: dict) -> list:
    if kind in ("upstream", "downstream"):
        return _graph_story(answer)
    if kind == "window":
        rows = [[str(d["deployment"]), f"{d['use_case']}/{d['model']} v{d['version']}", d["deployed_at"], d["status"],
                 str(d["distance"])] for d in answer["deployments"]]
        return [para(f"Datasets: {', '.join(n['label'] for n in answer['datasets'])} · environment "
                     f"{answer['environment']} · from {answer['start']} to {answer['end']}"),
                table(["deployment", "model version", "deployed at", "status", "edges away"],
                      rows or [["—", "no visible deployment depended on the dataset", "—", "—", "—"]],
                      widths=[0.9, 2.3, 2.0, 0.9, 0.8])]
    story = [para(f"Use case {answer['use_case']} · {answer['environment']} · at {answer['at']}")]
    if not answer["deployments"]:
        story.append(para("No deployment was running in the environment at that time."))
    for deployment in answer["deployments"]:
        story.append(heading(f"Deployment {deployment['deployment']}: {deployment['model']} v{deployment['version']}", 2))
        story.append(key_values([("Artifact SHA-256", para(deployment["artifact_sha256"], "mono")),
                                 ("Deployed at", deployment["deployed_at"])]))
        for approval in deployment["approvals"]:
            story.append(para(f"Approval {approval['approval']} ({approval['state_at']} at that time), approved "
                              f"{approval['approved_at']}, expires {approval['expires_at']}"))
            story.append(table(["meaning", "signer", "signed at", "manifest SHA-256"],
                               [[s["meaning"], s["signer"], s["signed_at"], s["manifest_sha256"]]
                                for s in approval["signatures"]] or [["—", "—", "—", "—"]],
                               widths=[1.0, 1.6, 1.8, 2.6], mono_columns=[3]))
        if not deployment["approvals"]:
            story.append(para("No approval of this version for the environment existed at that time."))
        story.append(table(["dataset version", "personal data", "legal basis", "retention until", "content SHA-256"],
                           [[f"{d['dataset']} v{d['version']}", "yes" if d["contains_personal_data"] else "no",
                             d["legal_basis_label"] or "—", d["retention_until"] or "—", d["content_sha256"]]
                            for d in deployment["datasets"]] or [["—", "—", "—", "—", "—"]],
                           widths=[1.4, 0.8, 1.9, 1.0, 1.9], mono_columns=[4]))
    return story


def story(inquiry) -> list:
    answer = inquiry.answer
    content = blocks.cover(KIND_TITLE, f"Inquiry {inquiry.pk}: {inquiry.get_kind_display()}", [
        ("Asked by (in Docket)", f"{inquiry.asked_by.display_name} ({inquiry.asked_by.get_username()})"),
        ("Requested by", inquiry.requester),
        ("Reason", inquiry.reason),
        ("Saved at", inquiry.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("Question", json.dumps(inquiry.parameters, sort_keys=True)),
        ("Hidden nodes", _hidden(answer)),
    ])
    content.append(heading("Answer"))
    content += _answer_story(inquiry.kind, answer)
    content += [PageBreak(), heading("Verifying this record"), key_values([
        ("Answer SHA-256 (canonical JSON of the saved answer)", para(inquiry.answer_sha256, "mono")),
        ("Audit checkpoint: tree size", str(inquiry.checkpoint_tree_size)),
        ("Checkpoint root hash (base64)", para(inquiry.checkpoint_root_hash, "mono")),
    ], label_width=0.38), para(
        "The audit entry lineage.inquiry.saved for this inquiry carries the same answer SHA-256 and checkpoint; "
        "lineage.inquiry.exported carries the SHA-256 of this PDF file. Verify those entries' inclusion proofs "
        "against a signed checkpoint (docket-verify or GET /api/v1/audit/entries/<index>).")]
    return content


def render(inquiry) -> bytes:
    frame = PageFrame(title=KIND_TITLE, system=f"inquiry {inquiry.pk}", docket_version=docket_version(),
                      as_of=f"as of checkpoint {inquiry.checkpoint_tree_size}")
    return build_pdf(story(inquiry), frame, with_toc=False)
