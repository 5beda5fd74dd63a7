"""Pieces shared by the apps' admin modules."""

from __future__ import annotations

from datetime import UTC, datetime

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import model_ngettext, unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from main.http_cache import catalogue_cache_invalidate_on_commit
from main.markets import Market, market_config


def market_zone_of(obj, field: str = "market"):
    """The time zone of the object's market, or None (no market, or not one we sell in).

    `field` may follow relations with dots (`order.market` for a payment): the
    admin joins them with `list_select_related`.
    """
    market = obj
    for name in field.split("."):
        market = getattr(market, name, None) if market is not None else None
    return market_config(market).time_zone if market in Market.values else None


def market_local(value: datetime | None, zone) -> str:
    """`2026-11-26 04:49 Bishkek`: an instant on the market's wall clock, the zone named."""
    if value is None:
        return "-"
    if zone is None:
        return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    city = zone.key.rsplit("/", 1)[-1].replace("_", " ")
    return f"{value.astimezone(zone):%Y-%m-%d %H:%M} {city}"


def market_time_column(field: str, description: str, market_field: str = "market"):
    """A list column showing `field` in each row's market time zone (sorts by the instant)."""

    @admin.display(description=description, ordering=field)
    def column(self, obj) -> str:
        return market_local(getattr(obj, field), market_zone_of(obj, market_field))

    column.__name__ = f"{field}_local"
    return column


def short_column(field: str, description: str, *, boolean: bool = False, stored: bool = False):
    """A list column showing `field` under a short header ("Cur.", "AOV"), sortable by it.

    A choice shows its label, or its stored value with `stored=True` ("KGS", not
    "Kyrgyzstani som": a narrow column that does not wrap).
    """

    @admin.display(description=description, ordering=field, boolean=boolean or None)
    def column(self, obj):
        display = None if stored else getattr(obj, f"get_{field}_display", None)
        return display() if display else getattr(obj, field)

    column.__name__ = f"{field}_short"
    return column


def thumbnail_column(field: str, description: str, size: int = 64):
    """A list column or read-only field showing the image in `field` as a `thumbnail`."""

    @admin.display(description=description)
    def column(self, obj) -> str:
        return thumbnail(getattr(obj, field, None) if obj is not None else None, size=size)

    column.__name__ = f"{field}_thumbnail"
    return column


class MarketTimeZoneAdminMixin:
    """Times of a market-bound object on its market's wall clock, not the server's UTC.

    Staff of a KG store read a Bishkek order placed at 04:49 as 04:49: the change
    page (its read-only fields and inlines) is rendered in the object's market
    time zone, and list columns made with `market_time_column` show each row in
    its own market's zone with the zone named.
    """

    market_field = "market"

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # The object the view already read: no second query for its market.
        response = super().render_change_form(request, context, add, change, form_url, obj)
        zone = market_zone_of(obj, self.market_field)
        if zone is not None:
            with timezone.override(zone):
                response.render()  # inside the zone: a TemplateResponse renders lazily
        return response


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

    No add and no delete; the change page saves nothing and shows no save
    buttons, since a full-row save would write back a status (and milestones)
    the service changed while the page was open. The actions call the service.
    """

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        return

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # Nothing on the page is saved: no "Save" buttons that would pretend otherwise.
        context.update(
            show_save=False, show_save_and_continue=False, show_save_and_add_another=False
        )
        return super().render_change_form(request, context, add, change, form_url, obj)


class StatusMoveForm(forms.Form):
    """One press of a status button on a change page: where to, from what, and the note.

    `from_status` is the status the page showed: a move is made only from it, so a
    page left open never acts on an object that moved on meanwhile.
    """

    to_status = forms.CharField(max_length=32)
    from_status = forms.CharField(max_length=32)
    note = forms.CharField(
        max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60})
    )


class StatusReasonForm(forms.Form):
    """The reason a bulk move asks for before it is made (the customer reads it)."""

    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="The customer reads it, with the step, in their history and notification.",
    )


class StatusPanelAdminMixin(MovedByServiceAdminMixin):
    """A change page whose "Save" is replaced by buttons for the moves the object can make.

    Each button posts to `<object>/status/` with the status the page showed and the
    staff's note. The move goes through the model's service (`status_move`, which
    returns why it was refused or None) only from the status the page showed, and
    is written to the admin's own log (the page's History) in the same
    transaction; the page comes back with the outcome. Only users with the change
    permission get the buttons or may post (403 otherwise). The list's bulk
    actions use `status_move_many`, the same path, from the status the list showed.

    A subclass sets `status_labels` (status → button label, in button order),
    `status_note_required` (moves that need a note), `status_note_help` and
    `status_panel_help`, and implements `status_moves(obj)` and `status_move(...)`.
    """

    change_form_template = "admin/status_change_form.html"
    status_labels: dict[str, str] = {}
    status_note_required: frozenset[str] = frozenset()
    status_note_help = "Kept in the history."
    status_panel_help = ""  # what else moves it, shown under the panel

    def status_moves(self, obj) -> frozenset[str]:
        """The statuses `obj` may move to now."""
        raise NotImplementedError

    def status_move(self, request, obj, to_status: str, note: str, from_status: str) -> str | None:
        """Move `obj` through its service, only from `from_status` (the service's
        `allowed_from`, checked under its lock): None when moved, else the refusal's words."""
        raise NotImplementedError

    def _status_move_logged(
        self, request, obj, to_status: str, note: str, from_status: str
    ) -> str | None:
        if obj.status != from_status:
            shown = obj.get_status_display().lower()
            return f"it is {shown} now, not {from_status}: look at it again."
        with transaction.atomic():  # the move and its log entry, or neither
            refused = self.status_move(request, obj, to_status, note, from_status)
            if refused is None:
                message = f"Status {from_status} → {to_status}" + (f": {note}" if note else "")
                self.log_change(request, obj, message)
        return refused

    def status_move_many(self, request, queryset, to_status: str, note: str = "") -> None:
        """A bulk action: each object through the same path; refusals are listed."""
        moved, refused = 0, []
        for obj in queryset.order_by("pk"):
            reason = self._status_move_logged(request, obj, to_status, note, obj.status)
            if reason is None:
                moved += 1
            else:
                refused.append(f"{obj}: {reason}")
        if moved:
            name = model_ngettext(self.opts, moved)
            self.message_user(request, f"{moved} {name} now {to_status}.", messages.SUCCESS)
        if refused:
            self.message_user(request, "Not changed: " + "; ".join(refused), messages.ERROR)

    def status_move_many_with_reason(self, request, queryset, to_status: str, title: str):
        """A bulk action that needs a reason: a page asking for it, then `status_move_many`.

        Returns None (back to the list, with the messages) once a reason was given.
        """
        form = StatusReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            self.status_move_many(request, queryset, to_status, note=form.cleaned_data["reason"])
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.opts,
            "objects": queryset.order_by("pk"),
            "form": form,
            "action": request.POST.get("action", ""),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "submit_label": f"{self.status_labels.get(to_status, to_status)} with this reason",
        }
        return TemplateResponse(request, "admin/status_reason.html", context)

    def status_buttons(self, request, obj) -> list[tuple[str, str]]:
        """(status, label) of each move `obj` can make now, if this user may move it."""
        if obj is None or not self.has_change_permission(request, obj):
            return []
        allowed = self.status_moves(obj)
        return [(to, label) for to, label in self.status_labels.items() if to in allowed]

    def get_urls(self):
        status = path(
            "<path:object_id>/status/",
            self.admin_site.admin_view(self.status_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_status",
        )
        return [status, *super().get_urls()]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context.update(
            status_buttons=self.status_buttons(request, obj),
            status_form=StatusMoveForm(),
            status_note_help=self.status_note_help,
            status_panel_help=self.status_panel_help,
            status_display=obj.get_status_display() if obj is not None else "",
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _status_refusal(self, form: StatusMoveForm) -> str | None:
        """Why a posted move is refused before the service is asked, or None."""
        to_status = form.data.get("to_status", "")
        if to_status not in self.status_labels or not form.data.get("from_status"):
            return "choose a status."
        if "note" in form.errors:
            return "the note: " + " ".join(form.errors["note"])
        if not form.is_valid():
            return "choose a status."
        if to_status in self.status_note_required and not form.cleaned_data["note"]:
            return f"{self.status_labels[to_status]} needs a note."
        return None

    @method_decorator(require_POST)
    def status_view(self, request, object_id):
        """A status button pressed on the change page: through the service, then back to it."""
        if not self.has_change_permission(request):  # before telling what exists
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(f"No such {self.opts.verbose_name}.")
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        form = StatusMoveForm(request.POST)
        refused = self._status_refusal(form)
        if refused is None:
            data = form.cleaned_data
            refused = self._status_move_logged(
                request, obj, data["to_status"], data["note"], data["from_status"]
            )
        if refused is None:
            self.message_user(request, f"{obj} is now {data['to_status']}.", messages.SUCCESS)
        else:
            self.message_user(request, f"Not changed: {refused}", messages.ERROR)
        change = f"admin:{self.opts.app_label}_{self.opts.model_name}_change"
        url = reverse(change, args=(obj.pk,), current_app=self.admin_site.name)
        return HttpResponseRedirect(url)


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


class SuperuserOnlyAdminMixin:
    """Internals (login throttling, tokens, outbox, carts, read models): superusers only.

    Staff in a role group never see the model on the index, and its pages answer 403,
    whatever permissions a group was given by mistake.
    """

    def has_module_permission(self, request):
        return request.user.is_superuser and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args):
        return request.user.is_superuser and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)


def superuser_only_apps(site: admin.AdminSite, app_labels: tuple[str, ...]) -> None:
    """Re-register the admins of third-party apps (axes, token blacklist) as superuser-only."""
    for model, model_admin in list(site._registry.items()):
        if model._meta.app_label not in app_labels or isinstance(
            model_admin, SuperuserOnlyAdminMixin
        ):
            continue
        admin_class = type(model_admin)
        wrapped = type(
            f"SuperuserOnly{admin_class.__name__}", (SuperuserOnlyAdminMixin, admin_class), {}
        )
        site.unregister(model)
        site.register(model, wrapped)


def thumbnail(value, size: int = 64) -> str:
    """A small preview of a stored image (a FieldFile, or a path under MEDIA_URL) opening it.

    The URL is escaped by `format_html`; no file (or a missing one) reads "-".
    """
    if not value:
        return "-"
    if isinstance(value, str):  # a path kept as text (an order line's image at checkout)
        is_url = value.startswith(("http://", "https://"))
        url = value if is_url else settings.MEDIA_URL + value.lstrip("/")
    else:
        try:
            url = value.url
        except ValueError:  # no file associated
            return "-"
    return format_html(
        '<a href="{0}" target="_blank" rel="noopener"><img src="{0}" alt="" loading="lazy" '
        'style="max-height: {1}px; max-width: {1}px; object-fit: contain;"></a>',
        url,
        size,
    )
