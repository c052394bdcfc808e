from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

from .models import DealerGroup, Store, User, VehicleBrand, VehicleSeries


@admin.register(DealerGroup)
class DealerGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["name", "group", "created_at"]
    list_filter = ["group"]
    search_fields = ["name"]


@admin.register(User)
class StaffAdmin(UserAdmin):
    list_display = ["username", "display_name", "role", "store", "dealer_group", "is_active"]
    list_filter = ["role", "is_active", "dealer_group", "store"]
    fieldsets = UserAdmin.fieldsets + ((_("Organisation"), {"fields": ["role", "dealer_group", "store", "display_name"]}),)

    def has_delete_permission(self, request, obj=None):
        # Staff are deactivated, never deleted: their records stay with the store.
        return False


@admin.register(VehicleBrand)
class VehicleBrandAdmin(admin.ModelAdmin):
    list_display = ["name", "name_en", "is_own"]
    list_filter = ["is_own"]


@admin.register(VehicleSeries)
class VehicleSeriesAdmin(admin.ModelAdmin):
    list_display = ["name", "name_en", "brand", "segment", "is_active"]
    list_filter = ["brand", "segment", "is_active"]
