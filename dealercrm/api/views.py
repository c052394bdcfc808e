from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off, get_credentials
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from .. import services
from ..models import Store, User, VehicleBrand, VehicleSeries
from ..scoping import ScopedViewSetMixin
from .parsers import BoundedJSONParser
from .serializers import (
    StoreSerializer,
    UserCreateSerializer,
    UserSerializer,
    VehicleBrandSerializer,
    VehicleSeriesSerializer,
)


LOCKED = inline_serializer("TokenLocked", {"detail": serializers.CharField()})


@extend_schema(
    tags=["auth"],
    summary="Obtain an API token",
    description='Send `{"username", "password"}`; use the answer as `Authorization: Token <key>`. '
    "Wrong credentials answer 400. Repeated failures (AXES_FAILURE_LIMIT) lock the username from that address for "
    "15 minutes, as on the login page: while locked the answer is 429 with `Retry-After` (seconds), even for the "
    "right password.",
    request=inline_serializer("TokenRequest", {"username": serializers.CharField(), "password": serializers.CharField()}),
    responses={
        200: inline_serializer("TokenResponse", {"token": serializers.CharField()}),
        400: OpenApiResponse(description="Wrong credentials, or a field missing: an object of field names to messages."),
        429: OpenApiResponse(LOCKED, description="Locked out after repeated failures; see Retry-After."),
    },
)
class TokenView(ObtainAuthToken):
    """DRF's token view behind django-axes' lock. Axes refuses a locked username inside ``authenticate()``, which
    DRF reports as a wrong password (400); the lock is checked here instead, before and after, and answered as the
    login page answers it: locked, with when to retry. JSON only, like the rest of the API (DRF's view also takes
    form and multipart bodies, which would put three content types in the schema)."""

    parser_classes = [BoundedJSONParser]

    def post(self, request, *args, **kwargs):
        username = request.data.get("username") if hasattr(request.data, "get") else None
        credentials = get_credentials(username if isinstance(username, str) else None)
        if AxesProxyHandler.is_locked(request._request, credentials):
            return self._locked(request._request)
        try:
            return super().post(request, *args, **kwargs)
        except ValidationError:
            if AxesProxyHandler.is_locked(request._request, credentials):
                return self._locked(request._request)
            raise

    @staticmethod
    def _locked(http_request) -> Response:
        cool_off = get_cool_off(http_request)
        seconds = int(cool_off.total_seconds()) if cool_off else 900
        response = Response(
            {"detail": _("This account is locked for 15 minutes after repeated failed logins from this address. Try "
                         "again later or ask your manager to reset your password.")},
            status=status.HTTP_429_TOO_MANY_REQUESTS,
        )
        response["Retry-After"] = str(seconds)
        return response


@extend_schema_view(
    list=extend_schema(tags=["organisation"], summary="Stores the caller may see"),
    retrieve=extend_schema(tags=["organisation"]),
    create=extend_schema(tags=["organisation"], summary="Create a store (group admins)"),
)
class StoreViewSet(ScopedViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Store.objects.select_related("group")
    serializer_class = StoreSerializer
    filterset_fields = ["group"]

    def perform_create(self, serializer):
        serializer.instance = services.store_create(
            actor=self.request.user,
            name=serializer.validated_data["name"],
        )


@extend_schema_view(
    list=extend_schema(tags=["organisation"], summary="Staff the caller may see"),
    retrieve=extend_schema(tags=["organisation"]),
)
class UserViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    queryset = User.objects.select_related("store")
    serializer_class = UserSerializer
    filterset_fields = ["role", "store", "is_active"]

    @extend_schema(
        tags=["organisation"],
        summary="Create a member of staff",
        description="A group admin creates staff in any store of the group; a manager creates consultants in "
        "their own store; anyone else gets 403. Unknown role or duplicate username: 400.",
        request=UserCreateSerializer,
        responses={201: UserSerializer},
    )
    def create(self, request, *args, **kwargs):
        data = UserCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        v = data.validated_data
        user = services.staff_create(
            actor=request.user,
            username=v["username"],
            password=v["password"],
            role=v["role"],
            store=v.get("store"),
            display_name=v.get("display_name", ""),
            group=v.get("dealer_group"),
        )
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)

    @extend_schema(tags=["organisation"], summary="The calling user")
    @action(detail=False)
    def me(self, request):
        return Response(UserSerializer(request.user).data)

    @extend_schema(
        tags=["organisation"],
        summary="Deactivate a member of staff",
        description="They can no longer log in; their records stay with the store.",
        request=None,
        responses={200: UserSerializer, 403: OpenApiResponse(description="Not allowed")},
    )
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        user = services.staff_deactivate(actor=request.user, user=self.get_object())
        return Response(UserSerializer(user).data)


@extend_schema_view(list=extend_schema(tags=["catalogue"]), retrieve=extend_schema(tags=["catalogue"]))
class VehicleBrandViewSet(viewsets.ReadOnlyModelViewSet):
    """The vehicle catalogue is shared by every dealer group (not scoped)."""

    scoping_exempt = "the vehicle catalogue is shared reference data"
    queryset = VehicleBrand.objects.all()
    serializer_class = VehicleBrandSerializer
    filterset_fields = ["is_own"]


@extend_schema_view(list=extend_schema(tags=["catalogue"]), retrieve=extend_schema(tags=["catalogue"]))
class VehicleSeriesViewSet(viewsets.ReadOnlyModelViewSet):
    scoping_exempt = "the vehicle catalogue is shared reference data"
    queryset = VehicleSeries.objects.select_related("brand")
    serializer_class = VehicleSeriesSerializer
    filterset_fields = ["brand", "segment", "is_active", "brand__is_own"]
