"""Technical documentation (EU AI Act Art. 11, Annex IV) for a use case and one model version.

Every Annex IV item and the Art. 9-15 / 17 / 72 topics are printed, each filled from the registry and
the reviews or marked MISSING with what is needed. Nothing is padded: an item Docket has no record
for is never given a default text.
"""

from __future__ import annotations

from apps.registry.models import ModelVersion

from .. import facts as f
from . import blocks, checklist
from .style import heading, key_values, missing_text, number, para, table, value_or_missing

KIND_TITLE = "Technical documentation (EU AI Act Annex IV)"


def gather(version: ModelVersion, snap: f.Snapshot) -> dict:
    """The facts of the document for `version` at the checkpoint `snap`."""
    use_case = version.model.use_case
    cases = f.cases_of(version, snap)
    case_facts = [f.review_case_facts(case, snap) for case in cases]
    latest = case_facts[-1] if case_facts else None
    history = f.model_history_facts(version, snap)
    subjects = {"registry.usecase": [use_case.pk], "registry.model": [version.model_id],
                "registry.modelversion": [version.pk], "reviews.reviewcase": [case.pk for case in cases]}
    return {
        "use_case": f.use_case_facts(use_case, snap),
        "model_version": f.model_version_facts(version),
        "history": history,
        "reviews": case_facts,
        "documentation": f.merged_documentation(case_facts),
        "latest_review": None if latest is None else latest["id"],
        "audit_index_first": f.first_index_about(subjects, snap),
    }


def _doc(facts: dict, field: str):
    return value_or_missing(facts["documentation"].get(field), checklist.DOCUMENTATION_FIELDS[field])


def _latest(facts: dict) -> dict | None:
    return facts["reviews"][-1] if facts["reviews"] else None


def story(facts: dict) -> list:
    use_case, version, history = facts["use_case"], facts["model_version"], facts["history"]
    classification = use_case["classification"]
    latest = _latest(facts)
    approvals = [case["approval"] for case in facts["reviews"] if case["approval"]]
    all_signatures = [dict(signature, case=case["id"]) for case in facts["reviews"] for signature in case["signatures"]]
    story = blocks.cover(KIND_TITLE, f"{use_case['name']} — {version['label']}", [
        ("AI system (use case)", f"{use_case['name']} ({use_case['key']})"),
        ("Model version", version["label"]),
        ("Artifact SHA-256", para(version["artifact_sha256"], "mono")),
        ("EU AI Act risk class", classification["risk_class_label"] if classification else
         value_or_missing(None, "an EU AI Act classification of the use case")),
        ("Model-risk tier (SR 11-7)", use_case["model_risk_tier"] or "—"),
        ("Reflects the audit log up to", f"checkpoint of {facts['document']['snapshot']['tree_size']} entries, "
                                         f"signed {facts['document']['snapshot']['signed_at']}"),
    ])

    # Classification
    story.append(heading("Classification and its rationale"))
    if classification is None:
        story.append(para(missing_text("an EU AI Act classification of the use case (use_case_classify)"),
                          markup=True))
    else:
        story.append(key_values([
            ("Risk class", classification["risk_class_label"]),
            ("Art. 5 screen", ", ".join(f"{key}: {'yes' if answer else 'no'}"
                                        for key, answer in classification["art5"].items())),
            ("Annex I safety component (Art. 6(1))", number(classification["annex_i_safety_component"])),
            ("Annex III point (Art. 6(2))", classification["annex_iii_point"] or "none"),
            ("Profiles natural persons", number(classification["profiles_natural_persons"])),
            ("Art. 6(3) exemption", classification["art6_3_exemption"] or "none claimed"),
            ("Art. 50 duties", ", ".join(classification["art50_duties"]) or "none"),
            ("Rationale", classification["rationale"]),
            ("Decided by / at", f"{classification['decided_by']}, {classification['decided_at']}"),
        ]))

    # 1. General description
    story.append(heading("1. General description of the AI system"))
    relation = f"version {version['number']}" + (f", corrects version {version['parent']}" if version["parent"]
                                                 else ", no earlier version it corrects")
    story.append(key_values([
        ("1(a) Intended purpose", value_or_missing(use_case["intended_purpose"], "the intended purpose")),
        ("1(a) Provider / operator role", f"{use_case['operator_role']}; owner team {use_case['owner_team']}; "
                                          f"business owner {use_case['business_owner']}"),
        ("1(a) Version and relation to previous versions", relation),
        ("Affected persons", value_or_missing(use_case["affected_persons"], "who the system is used on")),
        ("Member States", ", ".join(use_case["member_states"]) or "—"),
        ("1(b) Interaction with other systems", _doc(facts, "interactions")),
        ("1(c) Software versions", f"{version['framework']} {version['framework_version']}".strip() + "; "
                                   + (blocks.as_text(version["library_versions"]) if version["library_versions"]
                                      else "no library versions recorded")),
        ("1(c) Update requirements", _doc(facts, "update_requirements")),
        ("1(d) Forms placed on the market", _doc(facts, "market_forms")),
        ("1(e) Hardware", _doc(facts, "hardware")),
        ("1(f) Product illustrations", _doc(facts, "product_illustrations")
         if classification is None or classification["annex_i_safety_component"] else
         "Not applicable: the classification records no Annex I product the system is a component of."),
        ("1(g) User interface for the deployer", _doc(facts, "user_interface")),
        ("1(h) Instructions for use", _doc(facts, "instructions_for_use")),
    ]))

    # 2. Development
    story.append(heading("2. Development of the system"))
    story.append(key_values([
        ("2(a) Methods and steps", _doc(facts, "development_methods")),
        ("2(a) Training code", value_or_missing(" @ ".join(filter(None, [version["training_code_repository"],
                                                                         version["training_code_commit"]])),
                                                "the training code repository and commit")),
        ("2(b) Design: intended use", version["intended_use"]),
        ("2(b) Design: features", value_or_missing(version["features"], "the model's input features")),
        ("2(b) Design: parameters", value_or_missing(blocks.as_text(version["hyperparameters"])
                                                     if version["hyperparameters"] else "", "the hyperparameters")),
        ("2(b) Design choices and trade-offs", _doc(facts, "design_trade_offs")),
        ("2(c) Architecture and computational resources", _doc(facts, "architecture")),
        ("2(e) Human oversight measures", _doc(facts, "human_oversight")),
        ("2(f) Pre-determined changes", _doc(facts, "predetermined_changes")),
        ("2(h) Cybersecurity", _doc(facts, "cybersecurity")),
        ("2(h) Artifact integrity", f"{version['artifact_format']} artifact ({number(version['artifact_size'])} "
                                    f"bytes), SHA-256 recorded at registration; pickle formats refused"),
    ]))
    story.append(heading("2(d) Data requirements and datasheets (Art. 10)", 2))
    if not version["datasets"]:
        story.append(para(missing_text("the training, validation and test dataset versions the model used"),
                          markup=True))
    for dataset in version["datasets"]:
        story += blocks.datasheet(dataset, level=2)
    story.append(heading("2(g) Validation and testing", 2))
    if latest is None:
        story.append(para(missing_text("an independent review of this version with its check results and "
                                       "dated, signed decisions (review_open)"), markup=True))
    else:
        story.append(para(f"Review {latest['id']} for {latest['environment']}: status {latest['status']}; "
                          f"policy {latest['policy']['key']} v{latest['policy']['version']} (snapshot SHA-256 "
                          f"{latest['policy']['snapshot_sha256']}), thresholds locked when the review opened at "
                          f"{latest['opened_at']}."))
        story.append(table(["check", "status", "summary", "result SHA-256"],
                           [[check["label"], para_status(check), check.get("summary", "not finished"),
                             check.get("result_sha256", "")] for check in latest["checks"]],
                           widths=[1.5, 0.8, 3, 2.2], mono_columns=[3]))
        story += blocks.metrics_table(f.check_of(latest, "performance"))
        story.append(para("Dated signatures of the responsible persons:", "h2"))
        story += blocks.signatures_table(all_signatures)

    # 3. Monitoring, functioning and control
    story.append(heading("3. Monitoring, functioning and control"))
    story.append(key_values([
        ("Capabilities and limitations", value_or_missing(version["limitations"], "the known limitations")),
        ("Out-of-scope uses", value_or_missing(version["out_of_scope_uses"], "the uses the model must not serve")),
        ("Foreseeable unintended outcomes and risks", _doc(facts, "foreseeable_risks")),
        ("Human oversight measures", _doc(facts, "human_oversight")),
        ("Input specifications", value_or_missing(version["features"], "the input specification")),
    ]))
    story.append(heading("Accuracy for specific persons or groups (fairness)", 2))
    story += blocks.fairness_tables(f.fairness_of(latest), needed="a completed fairness check on the evaluation "
                                                                  "data's protected attributes")
    explainability = f.check_of(latest, "explainability")
    if explainability and (explainability.get("metrics") or {}).get("global_importance"):
        story += blocks.check_block(explainability)
    else:
        story += [heading("Explainability", 2),
                  para(missing_text("a completed explainability (SHAP) check"), markup=True)]

    # 4-9
    story.append(heading("4. Appropriateness of the performance metrics"))
    claims = version["claimed_metrics"]
    story.append(key_values([
        ("Claimed metrics", value_or_missing([f"{c['name']} = {number(c['value'])} on {c['dataset']}"
                                              for c in claims], "claimed metrics on a test dataset")),
        ("Why these metrics", _doc(facts, "metrics_rationale")),
    ]))
    story.append(heading("5. Risk management system (Art. 9)"))
    story.append(key_values([
        ("Risk management", _doc(facts, "risk_management")),
        ("Model-risk tier and rationale", value_or_missing(
            f"{use_case['model_risk_tier']}: {use_case['model_risk_tier_rationale']}" if use_case["model_risk_tier"]
            else "", "the internal model-risk tier (use_case_set_risk_tier)")),
        ("Thresholds fixed before results", value_or_missing(blocks.as_text(latest["thresholds"]) if latest else "",
                                                             "a review with locked thresholds")),
    ]))
    story.append(para("Findings", "h2"))
    story += blocks.findings_table([finding for case in facts["reviews"] for finding in case["findings"]])
    story.append(para("Risk acceptances", "h2"))
    story += blocks.risk_acceptances_table([check for case in facts["reviews"] for check in case["checks"]])

    story.append(heading("6. Relevant changes through the lifecycle"))
    story.append(table(["version", "registered at", "by", "artifact SHA-256", "corrects"],
                       [[f"v{item['number']}", item["registered_at"], item["registered_by"], item["artifact_sha256"],
                         f"v{item['parent']}" if item["parent"] else "—"] for item in history["versions"]],
                       widths=[0.6, 1.6, 1.8, 3.4, 0.7], mono_columns=[3]))
    story.append(para("Review decisions", "h2"))
    story.append(table(["review", "environment", "opened", "status"],
                       [[str(case["id"]), case["environment"], case["opened_at"], case["status"]]
                        for case in facts["reviews"]]))
    story.append(para("Deployments", "h2"))
    story.append(table(["version", "environment", "deployed at", "by", "status"],
                       [[f"v{item['version']}", item["environment"], item["deployed_at"], item["deployed_by"],
                         item["status"]] for item in history["deployments"]]))
    story.append(heading("7. Harmonised standards applied"))
    story.append(key_values([("Standards or other solutions", _doc(facts, "harmonised_standards"))]))
    story.append(heading("8. EU declaration of conformity"))
    story.append(key_values([("Declaration", _doc(facts, "declaration_of_conformity"))]))
    story.append(heading("9. Post-market monitoring plan (Art. 72)"))
    story.append(key_values([("Plan", _doc(facts, "post_market_monitoring_plan")),
                             ("Active deployments", ", ".join(f"v{d['version']} in {d['environment']}" for d in
                                                              history["deployments"] if d["status"] == "active")
                              or "none")]))

    # Approvals and the article topics
    story.append(heading("Approvals"))
    story.append(table(["environment", "approved at", "expires at", "conditions", "revoked"],
                       [[a["environment"], a["approved_at"], a["expires_at"], "; ".join(a["conditions"]) or "none",
                         a["revoked_at"] or "no"] for a in approvals]) if approvals else
                 para(missing_text("an approval of this version for its target environment"), markup=True))
    story.append(heading("Obligations of Art. 9-15, 17 and 72"))
    story.append(table(["article", "topic", "where this document shows it"], _article_rows(facts),
                       widths=[0.8, 2, 4.2]))
    return story


def para_status(check: dict):
    from . import style

    return para(style.status_text(check["status"]), "cell", markup=True)


def _article_rows(facts: dict) -> list:
    latest = _latest(facts)
    documentation = facts["documentation"]
    datasets = facts["model_version"]["datasets"]
    incomplete = [d["label"] for d in datasets if d["datasheet_missing"]]

    def state(present: bool, text: str, needed: str):
        return para(text, "cell") if present else value_or_missing(None, needed)

    return [
        ["Art. 9", "Risk management", state(bool(documentation.get("risk_management")), "Section 5",
                                            checklist.DOCUMENTATION_FIELDS["risk_management"])],
        ["Art. 10", "Data governance", state(bool(datasets) and not incomplete, "Section 2(d), all datasheet fields "
                                             "present", "complete datasheets for " + (", ".join(incomplete) or
                                                                                      "the linked datasets"))],
        ["Art. 11", "Technical documentation", para("This document", "cell")],
        ["Art. 12", "Automatic logging", para(f"Docket audit log {facts['document']['snapshot']['origin']}, signed "
                                              f"checkpoints; see the last page", "cell")],
        ["Art. 13", "Instructions for use", state(bool(documentation.get("instructions_for_use")), "Section 1(h)",
                                                  checklist.DOCUMENTATION_FIELDS["instructions_for_use"])],
        ["Art. 14", "Human oversight", state(bool(documentation.get("human_oversight")), "Sections 2(e) and 3",
                                             checklist.DOCUMENTATION_FIELDS["human_oversight"])],
        ["Art. 15", "Accuracy, robustness, cybersecurity",
         state(latest is not None and bool(documentation.get("cybersecurity")), "Sections 2(g), 2(h), 4",
               "a completed review and " + checklist.DOCUMENTATION_FIELDS["cybersecurity"])],
        ["Art. 17", "Quality management", state(bool(documentation.get("quality_management")),
                                                str(documentation.get("quality_management", "")),
                                                checklist.DOCUMENTATION_FIELDS["quality_management"])],
        ["Art. 72", "Post-market monitoring", state(bool(documentation.get("post_market_monitoring_plan")),
                                                    "Section 9",
                                                    checklist.DOCUMENTATION_FIELDS["post_market_monitoring_plan"])],
    ]
