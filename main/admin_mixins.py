"""Pieces shared by the apps' admin modules."""

from main.http_cache import catalogue_cache_invalidate_on_commit


class ViewOnlyAdminMixin:
    """Rows written only by code (logs, history, jobs, login flow): staff may look, not touch.

    Works for a ModelAdmin and for an inline (whose permission hooks take `obj`).
    """

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MovedByServiceAdminMixin:
    """Rows whose status a service moves (orders, returns): staff act through admin actions.

    No add and no delete; the change page saves nothing, since a full-row save
    would write back a status (and milestones) the service changed while the
    page was open. The actions call the service.
    """

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        return


class InvalidatesCatalogueCacheMixin:
    """Staff edits of what customers browse show at once, not after the cache expires.

    Every admin write path (form save with inlines, list_editable, delete, bulk
    delete) ends in `catalogue_cache_invalidate()`, once the transaction commits.
    """

    def _invalidate_after_commit(self) -> None:
        catalogue_cache_invalidate_on_commit()

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        self._invalidate_after_commit()

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        self._invalidate_after_commit()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        self._invalidate_after_commit()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        self._invalidate_after_commit()
