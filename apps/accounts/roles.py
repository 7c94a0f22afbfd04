"""The roles a person can hold. Each role is a Django group of the same name."""

from django.db import models


class Role(models.TextChoices):
    SUBMITTER = "submitter", "Submitter (registers datasets and model versions, submits for review)"
    VALIDATOR = "validator", "Validator (reviews evidence, raises findings, signs validation)"
    APPROVER = "approver", "Approver (signs the approval decision)"
    AUDITOR = "auditor", "Auditor (reads everything, changes nothing)"
    ADMIN = "admin", "Administrator (teams, use cases, service accounts, policies)"
