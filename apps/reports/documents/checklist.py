"""What the regulations ask a document to cover, copied into Docket so that reports never depend on
anything outside the repository. Sources: Regulation (EU) 2024/1689 (Annex IV; Art. 9-15, 17, 72),
Mitchell et al. 2019 "Model Cards for Model Reporting", Federal Reserve SR 11-7 (model inventory).

Free-text items the registry has no column for are taken from the documentation a submitter gives
with a review submission (`ReviewCase.documentation`), under the field names below; an item without
a value is printed as MISSING with the text saying what is needed.
"""

# Submission documentation field -> what it must say (printed after "MISSING — needed:").
DOCUMENTATION_FIELDS = {
    "interactions": "how the system interacts with other hardware, software or AI systems (Annex IV 1(b))",
    "update_requirements": "software/firmware update requirements (Annex IV 1(c))",
    "market_forms": "the forms in which the system is placed on the market or put into service (Annex IV 1(d))",
    "hardware": "the hardware the system is intended to run on (Annex IV 1(e))",
    "product_illustrations": "photographs or illustrations of the product the system is a component of "
                             "(Annex IV 1(f))",
    "user_interface": "a description of the user interface provided to the deployer (Annex IV 1(g))",
    "instructions_for_use": "instructions for use for the deployer (Annex IV 1(h), Art. 13)",
    "development_methods": "development methods and steps, incl. pre-trained systems and third-party tools "
                           "(Annex IV 2(a))",
    "design_trade_offs": "key design choices, their rationale and trade-offs (Annex IV 2(b))",
    "architecture": "system architecture and computational resources used (Annex IV 2(c))",
    "human_oversight": "the human oversight measures and their assessment (Annex IV 2(e), Art. 14)",
    "predetermined_changes": "pre-determined changes to the system and its performance (Annex IV 2(f))",
    "cybersecurity": "cybersecurity measures: resilience to errors, data poisoning and adversarial inputs "
                     "(Annex IV 2(h), Art. 15)",
    "foreseeable_risks": "foreseeable unintended outcomes and sources of risk to health, safety and "
                         "fundamental rights (Annex IV 3)",
    "metrics_rationale": "why the chosen performance metrics are appropriate (Annex IV 4)",
    "risk_management": "the risk management system: identified risks, estimation, mitigations, residual risk "
                       "(Annex IV 5, Art. 9)",
    "harmonised_standards": "harmonised standards applied, or the other solutions used (Annex IV 7)",
    "declaration_of_conformity": "a copy of the EU declaration of conformity (Annex IV 8, Art. 47)",
    "post_market_monitoring_plan": "the post-market monitoring plan (Annex IV 9, Art. 72)",
    "quality_management": "the quality management system, incl. change management and accountability (Art. 17)",
    "licence": "the model's licence (model card: model details)",
    "contact": "where to send questions or comments about the model (model card: model details)",
    "ethical_considerations": "ethical considerations (model card)",
    "upstream_models": "models whose output this model uses (SR 11-7 inventory)",
    "products": "products and business lines the model serves (SR 11-7 inventory)",
}

ANNEX_IV_SECTIONS = [
    ("1", "General description of the AI system"),
    ("2", "Development of the system and its elements"),
    ("3", "Monitoring, functioning and control"),
    ("4", "Appropriateness of the performance metrics"),
    ("5", "Risk management system (Art. 9)"),
    ("6", "Relevant changes through the lifecycle"),
    ("7", "Harmonised standards applied"),
    ("8", "EU declaration of conformity"),
    ("9", "Post-market monitoring plan (Art. 72)"),
]

ARTICLE_TOPICS = [
    ("Art. 9", "Risk management system"),
    ("Art. 10", "Data and data governance"),
    ("Art. 11", "Technical documentation (this document)"),
    ("Art. 12", "Record-keeping: automatic logging"),
    ("Art. 13", "Transparency and instructions for use"),
    ("Art. 14", "Human oversight"),
    ("Art. 15", "Accuracy, robustness and cybersecurity"),
    ("Art. 17", "Quality management system"),
    ("Art. 72", "Post-market monitoring"),
]

MODEL_CARD_SECTIONS = [
    "Model details", "Intended use", "Factors", "Metrics", "Evaluation data", "Training data",
    "Quantitative analyses", "Ethical considerations", "Caveats and recommendations",
]

SR_11_7_FIELDS = [
    "Purpose and products", "Usage", "Restrictions on use", "Inputs and their sources", "Upstream models",
    "Outputs and intended use", "Works as intended", "Last update", "Policy exceptions", "Developers",
    "Validators", "Validations done", "Next validation due", "Expected validity period",
]
