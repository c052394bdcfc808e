from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ..models import DealerGroup, Role, Store, User, VehicleBrand, VehicleSeries


def _name(value: str, *, required: bool = True) -> str:
    """dealercrm.text.clean_name as a DRF field validator: zero-width characters removed; control characters, text
    direction overrides or no letter at all refused."""
    from django.core.exceptions import ValidationError as DjangoValidationError

    from ..text import clean_name

    try:
        return clean_name(value, blank_message=_("This field may not be blank.") if required else None)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.messages) from None


class StoreSerializer(serializers.ModelSerializer):
    """A store. A group admin's new store always joins their own group (`group` is read-only)."""

    class Meta:
        model = Store
        fields = ["id", "name", "group", "created_at"]
        read_only_fields = ["id", "group", "created_at"]
        validators = []  # uniqueness within the group is the service's rule

    def validate_name(self, value):
        return _name(value)


class UserSerializer(serializers.ModelSerializer):
    """Output shape of a member of staff."""

    store_name = serializers.CharField(source="store.name", read_only=True, default=None, allow_null=True)

    class Meta:
        model = User
        fields = ["id", "username", "display_name", "role", "store", "store_name", "dealer_group", "is_active"]
        read_only_fields = fields


class UserCreateSerializer(serializers.Serializer):
    """Input for creating staff. The store must be in the caller's dealer group."""

    username = serializers.RegexField(
        r"^[\w.@+-]+\Z",
        max_length=150,
        error_messages={"invalid": _("Letters, digits and @/./+/-/_ only.")},
    )
    password = serializers.CharField(write_only=True, style={"input_type": "password"})
    role = serializers.ChoiceField(choices=Role.choices)
    store = serializers.PrimaryKeyRelatedField(queryset=Store.objects.none(), required=False, allow_null=True)
    display_name = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
    dealer_group = serializers.PrimaryKeyRelatedField(
        queryset=DealerGroup.objects.all(), required=False, allow_null=True, help_text=("Superusers only.")
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            # Stores outside the caller's group do not exist for them (400), stores of their group that they
            # may not staff are a permission question (403, decided by the service).
            stores = Store.objects.all() if user.is_superuser else Store.objects.filter(group=user.dealer_group_id)
            self.fields["store"].queryset = stores

    def validate_display_name(self, value):
        return _name(value, required=False)


class VehicleSeriesSerializer(serializers.ModelSerializer):
    brand_name = serializers.CharField(source="brand.name", read_only=True)
    brand_name_en = serializers.CharField(source="brand.name_en", read_only=True)
    is_own = serializers.BooleanField(source="brand.is_own", read_only=True)

    class Meta:
        model = VehicleSeries
        fields = ["id", "name", "name_en", "segment", "brand", "brand_name", "brand_name_en", "is_own", "is_active"]


class VehicleBrandSerializer(serializers.ModelSerializer):
    class Meta:
        model = VehicleBrand
        fields = ["id", "name", "name_en", "is_own"]
