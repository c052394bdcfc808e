from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.response import Response

from .. import services
from ..models import Store, User, VehicleBrand, VehicleSeries
from ..scoping import ScopedViewSetMixin
from .serializers import (
    StoreSerializer,
    UserCreateSerializer,
    UserSerializer,
    VehicleBrandSerializer,
    VehicleSeriesSerializer,
)


@extend_schema(
    tags=["auth"],
    summary="Obtain an API token",
    description='Send `{"username", "password"}`; use the answer as `Authorization: Token <key>`. '
    "Wrong credentials answer 400; repeated failures lock the username from that address.",
    request=inline_serializer("TokenRequest", {"username": serializers.CharField(), "password": serializers.CharField()}),
    responses={200: inline_serializer("TokenResponse", {"token": serializers.CharField()})},
)
class TokenView(ObtainAuthToken):
    pass


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
