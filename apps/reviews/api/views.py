"""Reviews endpoints. Reads go through `access` (the cases of the use cases the caller may see); each
write parses its input, resolves what it names, and calls exactly one service in apps.reviews.services.

Signing (validate, approve, reject, request changes) is a person's act: the request carries the
signer's password, which the service checks (21 CFR Part 11 §11.200); API keys are refused."""

from __future__ import annotations

from django.http import FileResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from apps.accounts.models import User
from apps.accounts.permissions import api_key_of
from apps.accounts.scopes import Scope
from apps.common.api.pagination import DocketCursorPagination, OldestFirstCursorPagination
from apps.common.api.permissions import ScopedAPIViewMixin
from apps.common.api.renderers import PNGRenderer
from apps.common.api.schema import problems
from apps.common.errors import ImmutableRecord, NotFound, PermissionDenied, ValidationFailed
from apps.registry.api import access as registry_access
from apps.reviews import services
from apps.reviews.models import CheckResult, Decision, Finding, ReviewCase

from . import access, filters
from . import serializers as s

READ_AND_SUBMIT = {"GET": [Scope.READ], "HEAD": [Scope.READ], "OPTIONS": [], "*": [Scope.REVIEWS_SUBMIT]}
# Reviewer actions belong to people; an API key reaching them is refused by the service (or, for
# signatures, by SignatureView) with the reason, whatever its scopes.
READ_AND_REVIEW = {"GET": [Scope.READ], "HEAD": [Scope.READ], "OPTIONS": [], "*": []}

WRITE_ERRORS = problems(400, 401, 403, 404, 409)
READ_ERRORS = problems(401, 403, 404)
LIST_ERRORS = problems(400, 401, 403, 404)


class SignatureRequiresPerson(PermissionDenied):
    """An API key asked to sign a review decision."""

    problem_type = "signature-requires-person"
    title = "An electronic signature is a person's act"


class ReviewsView(ScopedAPIViewMixin, GenericAPIView):
    """Base: JSON in, JSON out; `read` for reads, `reviews:submit` for a submitter's writes."""

    parser_classes = [JSONParser]
    required_scopes = READ_AND_SUBMIT
    filter_backends = [DjangoFilterBackend]

    def parse(self, serializer_class):
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def list_response(self, queryset, serializer_class):
        page = self.paginate_queryset(self.filter_queryset(queryset))
        return self.get_paginated_response(serializer_class(page, many=True).data)

    @staticmethod
    def created(data, location: str) -> Response:
        return Response(data, status=status.HTTP_201_CREATED, headers={"Location": location})


# --- cases ------------------------------------------------------------------------------------------


class ReviewCaseListView(ReviewsView):
    """Review cases the caller may see, newest first; POST submits a model version for review."""

    serializer_class = s.ReviewCaseOut
    filterset_class = filters.ReviewCaseFilter
    pagination_class = DocketCursorPagination

    def get_queryset(self):
        return access.review_cases(self.request)

    @extend_schema(operation_id="reviews_list", responses={200: s.ReviewCaseOut(many=True), **LIST_ERRORS})
    def get(self, request):
        return self.list_response(self.get_queryset(), s.ReviewCaseOut)

    @extend_schema(operation_id="reviews_open", request=s.ReviewOpenIn,
                   responses={201: s.ReviewCaseOut, **WRITE_ERRORS})
    def post(self, request):
        data = self.parse(s.ReviewOpenIn)
        version = registry_access.model_version(request, data["use_case"], data["model"], data["version"])
        previous = None
        if data["previous_case"] is not None:
            previous = access.review_cases(request).filter(pk=data["previous_case"]).first()
            if previous is None:
                message = f"There is no review {data['previous_case']} that you may see."
                raise ValidationFailed(message, field_errors={"previous_case": [message]})
        case = services.review_open(
            actor=request.user,
            model_version=version,
            environment=data["environment"],
            label_column=data["label_column"],
            positive_label=data["positive_label"],
            documentation=data["documentation"],
            previous_case=previous,
        )
        return self.created(s.ReviewCaseOut(access.review_case(request, case.pk)).data, s.case_path(case.pk))


class ReviewCaseDetailView(ReviewsView):
    """One review case with its status and check progress. Its policy snapshot, thresholds and evaluation
    spec were locked when it opened: PUT, PATCH and DELETE answer 409 immutable-record."""

    queryset = ReviewCase.objects.none()  # for the schema's path parameters; reads go through access
    serializer_class = s.ReviewCaseOut

    @extend_schema(operation_id="reviews_retrieve", responses={200: s.ReviewCaseOut, **READ_ERRORS})
    def get(self, request, pk: int):
        return Response(s.ReviewCaseOut(access.review_case(request, pk)).data)

    def _refuse(self, request, pk: int):
        case = access.review_case(request, pk)
        raise ImmutableRecord(
            f"Review {case.pk} locked its policy snapshot, thresholds and evaluation spec when it opened; they "
            "cannot be changed. Withdraw it and submit again to review under the current policy."
        )

    @extend_schema(operation_id="reviews_update", request=None, responses={**problems(409), **READ_ERRORS})
    def put(self, request, pk: int):
        self._refuse(request, pk)

    @extend_schema(operation_id="reviews_partial_update", request=None, responses={**problems(409), **READ_ERRORS})
    def patch(self, request, pk: int):
        self._refuse(request, pk)

    @extend_schema(operation_id="reviews_destroy", responses={**problems(409), **READ_ERRORS})
    def delete(self, request, pk: int):
        self._refuse(request, pk)


class ReviewWithdrawView(ReviewsView):
    queryset = ReviewCase.objects.none()
    serializer_class = s.ReviewCaseOut

    @extend_schema(operation_id="reviews_withdraw", request=s.ReviewWithdrawIn, responses={200: s.ReviewCaseOut, **WRITE_ERRORS})
    def post(self, request, pk: int):
        case = access.review_case(request, pk)
        data = self.parse(s.ReviewWithdrawIn)
        services.review_withdraw(actor=request.user, case=case, reason=data["reason"])
        return Response(s.ReviewCaseOut(access.review_case(request, pk)).data)


# --- check results ----------------------------------------------------------------------------------


class CheckResultListView(ReviewsView):
    queryset = CheckResult.objects.none()
    serializer_class = s.CheckResultOut
    pagination_class = OldestFirstCursorPagination

    @extend_schema(operation_id="review_checks_list", responses={200: s.CheckResultOut(many=True), **LIST_ERRORS})
    def get(self, request, pk: int):
        case = access.review_case(request, pk)
        return self.list_response(access.checks_queryset().filter(case=case), s.CheckResultOut)


class CheckResultDetailView(ReviewsView):
    queryset = CheckResult.objects.none()
    serializer_class = s.CheckResultOut

    @extend_schema(operation_id="review_checks_retrieve", responses={200: s.CheckResultOut, **READ_ERRORS})
    def get(self, request, pk: int, kind: str):
        return Response(s.CheckResultOut(access.check_result(request, pk, kind)).data)


class CheckPlotView(ReviewsView):
    """Streams one PNG figure of a check (e.g. the SHAP beeswarm), as stored under its SHA-256."""

    queryset = CheckResult.objects.none()
    renderer_classes = [JSONRenderer, PNGRenderer]

    @extend_schema(operation_id="review_check_plot_download",
                   responses={(200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="The PNG."),
                              **READ_ERRORS})
    def get(self, request, pk: int, kind: str, name: str):
        result = access.check_result(request, pk, kind)
        plot = next((plot for plot in result.plots.all() if plot.name == name), None)
        if plot is None:
            raise NotFound(f"The {kind} check of review {pk} has no plot {name!r}.")
        response = FileResponse(plot.image.open("rb"), content_type="image/png")
        response["Content-Disposition"] = f'inline; filename="review-{pk}-{kind}-{name}.png"'
        response["ETag"] = f'"{plot.sha256}"'
        response["X-Content-SHA256"] = plot.sha256
        return response


class RiskAcceptView(ReviewsView):
    """An approver accepts the risk of a failed (or uncompleted) check with a written rationale."""

    queryset = CheckResult.objects.none()
    serializer_class = s.CheckResultOut
    required_scopes = READ_AND_REVIEW

    @extend_schema(operation_id="review_checks_risk_accept", request=s.ReviewRiskAcceptIn,
                   responses={201: s.CheckResultOut, **WRITE_ERRORS})
    def post(self, request, pk: int, kind: str):
        result = access.check_result(request, pk, kind)
        data = self.parse(s.ReviewRiskAcceptIn)
        services.risk_accept(actor=request.user, check_result=result, rationale=data["rationale"])
        return self.created(s.CheckResultOut(access.check_result(request, pk, kind)).data,
                            f"{s.case_path(pk)}checks/{kind}/")


# --- findings ---------------------------------------------------------------------------------------


def _owner(username: str) -> User:
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        message = f"There is no active user named {username!r}."
        raise ValidationFailed(message, field_errors={"owner": [message]})
    return user


class FindingListView(ReviewsView):
    queryset = Finding.objects.none()
    serializer_class = s.FindingOut
    pagination_class = OldestFirstCursorPagination
    required_scopes = READ_AND_REVIEW

    @extend_schema(operation_id="review_findings_list", responses={200: s.FindingOut(many=True), **LIST_ERRORS})
    def get(self, request, pk: int):
        case = access.review_case(request, pk)
        return self.list_response(access.findings(case), s.FindingOut)

    @extend_schema(operation_id="review_findings_raise", request=s.FindingRaiseIn,
                   responses={201: s.FindingOut, **WRITE_ERRORS})
    def post(self, request, pk: int):
        case = access.review_case(request, pk)
        data = self.parse(s.FindingRaiseIn)
        check_result = None
        if data["check"] is not None:
            check_result = case.check_results.filter(kind=data["check"]).first()
            if check_result is None:
                message = f"Review {pk} has no {data['check']} check."
                raise ValidationFailed(message, field_errors={"check": [message]})
        finding = services.finding_raise(
            actor=request.user, case=case, severity=data["severity"], title=data["title"],
            description=data["description"], owner=_owner(data["owner"]), due_date=data["due_date"],
            check_result=check_result,
        )
        return self.created(s.FindingOut(access.finding(request, pk, finding.pk)).data,
                            f"{s.case_path(pk)}findings/{finding.pk}/")


class FindingDetailView(ReviewsView):
    queryset = Finding.objects.none()
    serializer_class = s.FindingOut
    required_scopes = READ_AND_REVIEW

    @extend_schema(operation_id="review_findings_retrieve", responses={200: s.FindingOut, **READ_ERRORS})
    def get(self, request, pk: int, finding_pk: int):
        return Response(s.FindingOut(access.finding(request, pk, finding_pk)).data)


class FindingResolveView(ReviewsView):
    queryset = Finding.objects.none()
    serializer_class = s.FindingOut
    required_scopes = READ_AND_REVIEW

    @extend_schema(operation_id="review_findings_resolve", request=s.FindingResolveIn,
                   responses={200: s.FindingOut, **WRITE_ERRORS})
    def post(self, request, pk: int, finding_pk: int):
        finding = access.finding(request, pk, finding_pk)
        data = self.parse(s.FindingResolveIn)
        services.finding_resolve(actor=request.user, finding=finding, resolution=data["resolution"])
        return Response(s.FindingOut(access.finding(request, pk, finding_pk)).data)


class FindingReassignView(ReviewsView):
    queryset = Finding.objects.none()
    serializer_class = s.FindingOut
    required_scopes = READ_AND_REVIEW

    @extend_schema(operation_id="review_findings_reassign", request=s.FindingReassignIn,
                   responses={200: s.FindingOut, **WRITE_ERRORS})
    def post(self, request, pk: int, finding_pk: int):
        finding = access.finding(request, pk, finding_pk)
        data = self.parse(s.FindingReassignIn)
        services.finding_reassign(
            actor=request.user, finding=finding, reason=data["reason"],
            owner=_owner(data["owner"]) if "owner" in data else None, due_date=data.get("due_date"),
        )
        return Response(s.FindingOut(access.finding(request, pk, finding_pk)).data)


# --- decisions --------------------------------------------------------------------------------------


class DecisionListView(ReviewsView):
    queryset = Decision.objects.none()
    serializer_class = s.ReviewDecisionOut
    pagination_class = OldestFirstCursorPagination

    @extend_schema(operation_id="review_decisions_list", responses={200: s.ReviewDecisionOut(many=True), **LIST_ERRORS})
    def get(self, request, pk: int):
        case = access.review_case(request, pk)
        return self.list_response(access.decisions(case), s.ReviewDecisionOut)


class DecisionDetailView(ReviewsView):
    queryset = Decision.objects.none()
    serializer_class = s.ReviewDecisionOut

    @extend_schema(operation_id="review_decisions_retrieve", responses={200: s.ReviewDecisionOut, **READ_ERRORS})
    def get(self, request, pk: int, decision_pk: int):
        return Response(s.ReviewDecisionOut(access.decision(request, pk, decision_pk)).data)


class SignatureView(ReviewsView):
    """Base of the signing endpoints: refuses API keys, then parses the input and calls `sign`."""

    queryset = ReviewCase.objects.none()
    serializer_class = s.ReviewDecisionOut
    required_scopes = READ_AND_REVIEW
    input_serializer: type[s.ReviewSignatureIn] = s.ReviewSignatureIn

    def sign(self, case: ReviewCase, data: dict) -> Decision:
        raise NotImplementedError

    def signed(self, request, pk: int) -> Response:
        if api_key_of(request.auth) is not None:
            raise SignatureRequiresPerson(
                "Review decisions are electronic signatures (21 CFR Part 11): a person signs them, signed in, "
                "re-entering their password. An API key cannot sign; nothing was signed."
            )
        case = access.review_case(request, pk)
        data = self.parse(self.input_serializer)
        decision = self.sign(case, data)
        return self.created(s.ReviewDecisionOut(access.decision(request, pk, decision.pk)).data,
                            f"{s.case_path(pk)}decisions/{decision.pk}/")


SIGN_ERRORS = WRITE_ERRORS


class ValidateView(SignatureView):
    input_serializer = s.ReviewValidateIn

    def sign(self, case, data):
        return services.review_validate(actor=self.request.user, case=case, password=data["password"],
                                        comment=data["comment"])

    @extend_schema(operation_id="reviews_validate", request=s.ReviewValidateIn, responses={201: s.ReviewDecisionOut, **SIGN_ERRORS})
    def post(self, request, pk: int):
        return self.signed(request, pk)


class ApproveView(SignatureView):
    input_serializer = s.ReviewApproveIn

    def sign(self, case, data):
        return services.review_approve(actor=self.request.user, case=case, password=data["password"],
                                       conditions=data["conditions"], comment=data["comment"])

    @extend_schema(operation_id="reviews_approve", request=s.ReviewApproveIn, responses={201: s.ReviewDecisionOut, **SIGN_ERRORS})
    def post(self, request, pk: int):
        return self.signed(request, pk)


class RejectView(SignatureView):
    input_serializer = s.ReviewCloseIn

    def sign(self, case, data):
        return services.review_reject(actor=self.request.user, case=case, password=data["password"],
                                      reason=data["reason"])

    @extend_schema(operation_id="reviews_reject", request=s.ReviewCloseIn, responses={201: s.ReviewDecisionOut, **SIGN_ERRORS})
    def post(self, request, pk: int):
        return self.signed(request, pk)


class RequestChangesView(SignatureView):
    input_serializer = s.ReviewCloseIn

    def sign(self, case, data):
        return services.review_request_changes(actor=self.request.user, case=case, password=data["password"],
                                               reason=data["reason"])

    @extend_schema(operation_id="reviews_request_changes", request=s.ReviewCloseIn,
                   responses={201: s.ReviewDecisionOut, **SIGN_ERRORS})
    def post(self, request, pk: int):
        return self.signed(request, pk)
