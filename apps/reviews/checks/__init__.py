"""The computations behind the automated review checks.

Nothing in this package imports Django: the model-executing checks (explainability, fairness,
performance) run in a separate, resource-limited process (`apps.reviews.checks.runner`, started by
`apps.reviews.sandbox`) that receives file paths and thresholds as JSON and answers with JSON, so a
model that crashes or exhausts its limits takes only that process down. The metadata checks (data
governance, documentation) are plain functions over dictionaries.
"""
