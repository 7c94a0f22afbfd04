"""The lineage page in a real browser: an auditor answering an inquiry opens the lineage page from the
nav, picks a deployment, sees the graph drawn down from the training data, follows a node, and moves
"as of" back to before the deployment, when the graph had the model version but no deployment yet."""

from __future__ import annotations

import datetime as dt
import re
import time

import numpy as np
import pytest
import skops.io
from django.core.files.base import ContentFile
from django.utils import timezone
from sklearn.linear_model import LogisticRegression

from apps.accounts.roles import Role
from apps.audit.services import SYSTEM
from apps.registry import services as registry
from apps.registry.services import DatasetLink
from tests.factories.accounts import TeamFactory, UserFactory
from tests.factories.registry import ModelFactory, UseCaseFactory
from tests.lineage.conftest import register_dataset_version

pytestmark = pytest.mark.django_db(transaction=True)


def _artifact() -> ContentFile:
    features = np.random.default_rng(7).normal(size=(40, 2))
    estimator = LogisticRegression().fit(features, (features[:, 0] > 0).astype(int))
    return ContentFile(skops.io.dumps(estimator), name="model.skops")


def test_an_auditor_explores_a_deployment_and_goes_back_in_time(page, sign_in, screenshot):
    team = TeamFactory(key="credit-risk")
    model = ModelFactory(use_case=UseCaseFactory(key="credit-scoring", owner_team=team), key="default-lr")
    train = register_dataset_version(key="loans", team=team)
    version = registry.model_version_register(
        actor=SYSTEM, model=model, artifact=_artifact(), framework="scikit-learn",
        intended_use="Scoring loan applications.", datasets=[DatasetLink(role="train", dataset_version=train)])
    between = (timezone.now() + dt.timedelta(seconds=1)).replace(microsecond=0) + dt.timedelta(seconds=1)
    time.sleep((between - timezone.now()).total_seconds() + 1.1)
    registry.deployment_record(actor=SYSTEM, model_version=version, environment="production")
    sign_in(page, UserFactory(username="pia-privacy", roles=[Role.AUDITOR]))

    page.get_by_role("link", name="Lineage").click()
    page.get_by_role("link", name=re.compile(r"default-lr v1 in production")).click()
    drawing = page.locator("svg.lineage-svg")
    drawing.wait_for()
    assert "loans v1" in drawing.text_content() and "default-lr v1" in drawing.text_content()
    screenshot(page, "lineage-explore")

    page.get_by_role("link", name="loans v1").first.click()
    page.locator("svg.lineage-svg").wait_for()
    assert page.locator("svg.lineage-svg rect").count() == 3  # the dataset, the model version, the deployment
    assert "default-lr v1 in production" in page.locator("main").text_content()

    page.get_by_label("Direction").select_option("down")
    page.get_by_label("As of").fill(between.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"as_of="))
    page.locator("svg.lineage-svg").wait_for()
    assert page.locator("svg.lineage-svg rect").count() == 2  # not deployed yet at that time
    assert "default-lr v1 in production" not in page.locator("main").text_content()
