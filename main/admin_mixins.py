"""Pieces shared by the apps' admin modules."""


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
