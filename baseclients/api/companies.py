"""The company-account API: ``/api/v1/companies/`` (list, read, create, edit) with the company's people written in
the same request, and its fleet by segment counted from its base clients' vehicles. Every read is
``companies_visible_to(request.user)`` (another scope's company is a 404); writes go through
``leads.services.company_save`` (403: may see it but not edit it; 400: field messages, nothing written)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from dealercrm.api.pagination import StandardPagination
from dealercrm.api.schema import TruthfulModelSerializer, name_of
from dealercrm.models import Store, User
from dealercrm.scoping import ScopedViewSetMixin
from dealercrm.selectors import staff_of_group
from leads import phones
from leads.companies import Company, CompanyPerson, CompanySize, DecisionRole, validate_credit_code
from leads.services import can_edit_company, company_save

from ..selectors_companies import companies_visible_to, company_fleet, company_list, people_prefetch

TAGS = ["companies"]
E400 = OpenApiResponse(description="Invalid input: an object of field names to messages; nothing is written.")
E403 = OpenApiResponse(description="The caller may see the company but not edit it.")
E404 = OpenApiResponse(description="No such company, or one the caller may not see.")


def _caller(serializer):
    request = serializer.context.get("request")
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


class FleetRowSerializer(serializers.Serializer):
    segment = serializers.CharField(read_only=True, help_text="The series' segment code; `unknown` without a series.")
    label = serializers.CharField(read_only=True)
    vehicles = serializers.IntegerField(read_only=True, help_text="Vehicles of the company's base clients in it.")


class PersonSerializer(TruthfulModelSerializer):
    phone = serializers.SerializerMethodField(
        help_text="In full for the company's owner, the store's fleet sales manager and whoever manages the store; "
                  "masked (138****8000) for anyone else.")

    class Meta:
        model = CompanyPerson
        fields = ["id", "name", "title", "phone", "decision_role", "note"]
        read_only_fields = fields

    def get_phone(self, person) -> str:
        readable = self.context.get("readable", set())
        return person.phone if person.company_id in readable else person.masked_phone


class CompanySerializer(TruthfulModelSerializer):
    owner_name = name_of("owner")
    store_name = name_of("store")
    people = PersonSerializer(many=True, read_only=True)
    fleet = FleetRowSerializer(many=True, read_only=True, help_text=(
        "The fleet the company runs: vehicles of the base clients that name this company, counted by their "
        "series' segment, largest first. Counted, never typed."))

    class Meta:
        model = Company
        fields = ["id", "store", "store_name", "owner", "owner_name", "name", "credit_code", "legal_representative",
                  "industry", "size", "turnover", "address", "people", "fleet", "created_at", "updated_at"]
        read_only_fields = fields
        extra_kwargs = {"turnover": {"help_text": "Annual turnover in CNY (a decimal string)."}}


class PersonWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=60)
    title = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True, default="",
                                  help_text="Any common format; stored in E.164.")
    decision_role = serializers.ChoiceField(choices=DecisionRole.choices, help_text=(
        "Their part in the purchase decision: decider (决定者), influencer (影响者), supporter (支持者) or "
        "opponent (反对者)."))
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def validate_phone(self, value):
        try:
            return phones.phone_normalize(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None


class CompanyWriteSerializer(serializers.Serializer):
    """Create (name required) or edit (every field optional). ``people``, when sent, replaces the company's people."""

    name = serializers.CharField(max_length=100)
    credit_code = serializers.CharField(max_length=30, required=False, allow_blank=True, help_text=(
        "The unified social credit code (统一社会信用代码): 18 characters, the last a check character over the "
        "first 17 (GB 32100-2015). Unique in the dealer group. Spaces and lower case are accepted."))
    legal_representative = serializers.CharField(max_length=60, required=False, allow_blank=True)
    industry = serializers.CharField(max_length=60, required=False, allow_blank=True)
    size = serializers.ChoiceField(choices=CompanySize.choices, required=False, allow_blank=True,
                                   help_text="Employees, as a band.")
    turnover = serializers.DecimalField(max_digits=16, decimal_places=2, min_value=0, required=False,
                                        allow_null=True, help_text="Annual turnover in CNY.")
    address = serializers.CharField(max_length=200, required=False, allow_blank=True)
    owner = serializers.PrimaryKeyRelatedField(queryset=User.objects.none(), required=False, help_text=(
        "The consultant who looks after the company (default: the calling consultant). A manager or the fleet "
        "sales manager may name a colleague."))
    store = serializers.PrimaryKeyRelatedField(queryset=Store.objects.none(), required=False, help_text=(
        "Only on create, and only needed by group admins (default: the caller's store)."))
    people = PersonWriteSerializer(many=True, required=False, max_length=50)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        user = _caller(self)
        self.fields["owner"].queryset = staff_of_group(user)
        self.fields["store"].queryset = Store.objects.visible_to(user) if user else Store.objects.none()

    def validate_credit_code(self, value):
        try:
            validate_credit_code(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return value


@extend_schema_view(
    list=extend_schema(tags=TAGS, summary="Company accounts the caller may see", parameters=[
        OpenApiParameter("q", str, description="Part of the name or of the credit code.")],
        description="A consultant sees the companies they own, or that their leads or base clients name; the "
                    "store's fleet sales manager and its manager the store's; a group admin the group's."),
    retrieve=extend_schema(tags=TAGS, summary="A company with its people and fleet"),
)
class CompanyViewSet(ScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Company.objects.all()
    serializer_class = CompanySerializer
    pagination_class = StandardPagination

    def get_queryset(self):
        q = self.request.query_params.get("q", "") if self.action == "list" else ""
        base = company_list(user=self.request.user, q=q) if self.action == "list" else \
            companies_visible_to(self.request.user).select_related("owner", "store")
        return base.prefetch_related(people_prefetch())

    def get_object(self) -> Company:
        return self.scoped_object()

    def _context(self, companies) -> dict:
        user = self.request.user
        fleet = company_fleet([c.pk for c in companies])
        for c in companies:
            c.fleet = fleet.get(c.pk, [])
        return {**self.get_serializer_context(),
                "readable": {c.pk for c in companies if can_edit_company(user, c)}}

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        page = list(page)
        return self.get_paginated_response(CompanySerializer(page, many=True, context=self._context(page)).data)

    def retrieve(self, request, *args, **kwargs):
        return self._answer(self.get_object().pk)

    def _answer(self, pk: int, code=status.HTTP_200_OK) -> Response:
        company = companies_visible_to(self.request.user).select_related("owner", "store") \
            .prefetch_related(people_prefetch()).get(pk=pk)
        return Response(CompanySerializer(company, context=self._context([company])).data, status=code)

    @extend_schema(tags=TAGS, summary="Add a company with its people", request=CompanyWriteSerializer,
                   description="The company and its `people` in one transaction: a bad field or a bad person is a "
                               "400 naming it, and nothing is written. A credit code with a wrong check character, "
                               "or one another company of the group has: 400 on `credit_code`.",
                   responses={201: CompanySerializer, 400: E400, 403: E403})
    def create(self, request, *args, **kwargs):
        data = CompanyWriteSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        company = company_save(actor=request.user, store=values.pop("store", None), owner=values.pop("owner", None),
                               people=values.pop("people", None), **values)
        return self._answer(company.pk, status.HTTP_201_CREATED)

    @extend_schema(tags=TAGS, summary="Edit a company (and replace its people)", request=CompanyWriteSerializer,
                   description="Fields as on create, all optional; `people`, when sent, replaces the company's "
                               "people. All or nothing. 403: the caller sees the company (through a lead) but is "
                               "not its owner, the fleet sales manager or a manager of the store. `store` cannot "
                               "change (400).",
                   responses={200: CompanySerializer, 400: E400, 403: E403, 404: E404})
    def partial_update(self, request, *args, **kwargs):
        return self._edit(request, partial=True)

    @extend_schema(tags=TAGS, summary="Replace a company (and its people)", request=CompanyWriteSerializer,
                   description="As PATCH, with `name` required.",
                   responses={200: CompanySerializer, 400: E400, 403: E403, 404: E404})
    def update(self, request, *args, **kwargs):
        return self._edit(request, partial=False)

    def _edit(self, request, *, partial: bool) -> Response:
        company = self.get_object()
        data = CompanyWriteSerializer(data=request.data, partial=partial, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        store = values.pop("store", None)
        if store is not None and store.pk != company.store_id:
            raise serializers.ValidationError({"store": [_("A company cannot move to another store.")]})
        company_save(actor=request.user, company=company, owner=values.pop("owner", None),
                     people=values.pop("people", None), **values)
        return self._answer(company.pk)
