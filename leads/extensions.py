"""The places where the apps above ``leads`` add to the lead's pages and API (docs/architecture.md).

``leads`` does not import ``baseclients`` or ``defeats``, yet its pages show their panels and its API carries their
fields. Each higher app registers what it adds here, in its ``AppConfig.ready()``; ``leads`` reads these registries
when it builds a form, a serializer's fields or a page, never at import time. Four hooks, no more:

- :data:`PAGE_PARTS`: templates included at named places of the lead's pages (panels, visit-form hints, the
  workspace's cards). Each part is self-contained: it loads its own app's template tags or calls its own URLs.
- :func:`register_lead_fields`: fields a higher app adds to a lead — on the visit forms, in the lead API's input
  and answer, and on the deal's answer — and how they are saved in the lead's transaction (the referrer).
- :func:`register_timeline_kind` and :func:`register_stale_action`: entries a higher app adds to the lead's
  timeline (page and API) and actions it adds to the manager's stale-lead queue.
- :func:`register_open_counts`: where the workspace's counts of the open leads (per grade, overdue, due today) are
  kept counted (the funnel's state-now rows), so a group's workspace does not count millions of leads per request.

Writes still go through services; a hook only composes what a user sees and types.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

#: slot name -> template names, in registration order. The slots of the leads' templates:
#:
#: - ``lead_panels``: under a lead's page (context: ``lead``);
#: - ``won_lead``: a won lead's page, under its header (context: ``lead``);
#: - ``deal_header``: the deal's line in a won lead's header (context: ``lead``, ``deal``);
#: - ``visit_hints``: the visit forms, under the phone field (the htmx hints read ``#id_phone``);
#: - ``quick_visit_fields``: the workspace's walk-in form, after the grade (context: ``quick_form``);
#: - ``visit_form_fields``: the full visit form, after the grade (context: ``form``);
#: - ``deal_form``: the deal form, after its fields (context: ``form``, ``lead``);
#: - ``workspace``: the workspace, after today's follow-ups.
#:
#: Included with ``{% lead_parts "slot" %}`` (leads_ui); add to one with :func:`register_page_part`. A form field
#: a part shows comes from :class:`LeadFields`.
PAGE_PARTS: dict[str, list[str]] = {}


def register_page_part(slot: str, template: str) -> None:
    """Include ``template`` at ``slot`` of the lead's pages (once, however often ``ready()`` runs)."""
    parts = PAGE_PARTS.setdefault(slot, [])
    if template not in parts:
        parts.append(template)


@dataclass(frozen=True)
class LeadFields:
    """Fields a higher app adds to a lead. Every callable is called when a form or serializer is built (so labels
    are in the user's language and querysets are fresh).

    - ``form_fields(user)``: form fields added to the visit forms (quick walk-in and full); ``form_save(actor=,
      lead=, cleaned=)`` saves them for a new lead, in the visit's transaction;
    - ``api_input()``: serializer fields added to the lead API's create and edit input; ``api_save(actor=, lead=,
      data=)`` saves them (``data``: only the fields the request sent), in the write's transaction; it may raise
      ``ValidationError`` (a 400 with field messages, the lead's write undone);
    - ``api_output()``: read-only serializer fields added to the lead's answer, reading the relations named in
      ``select_related`` (joined by the lead lists' query, so a page costs no extra query);
    - ``deal_output()``: read-only serializer fields added to the deal's answer.
    """

    name: str
    form_fields: Callable[..., dict]
    form_save: Callable[..., None]
    api_input: Callable[[], dict]
    api_output: Callable[[], dict]
    api_save: Callable[..., None]
    select_related: tuple[str, ...] = ()
    deal_output: Callable[[], dict] = dict


LEAD_FIELDS: dict[str, LeadFields] = {}


def register_lead_fields(fields: LeadFields) -> None:
    LEAD_FIELDS[fields.name] = fields


def lead_select_related() -> list[str]:
    """The relations the registered lead fields read (for the lead lists' ``select_related``)."""
    return [name for fields in LEAD_FIELDS.values() for name in fields.select_related]


@dataclass(frozen=True)
class TimelineKind:
    """Entries of another app in the lead's timeline: ``entries(lead)`` yields ``(at, record)`` (a fixed number of
    queries whatever the lead's history); ``serializer`` is the record's API shape (the timeline adds ``kind`` and
    ``at``); ``template`` renders one entry on the page (context: ``entry``, ``o`` the record); ``rank`` orders
    entries at the same moment (the lead's own: deal 0, grade 2, follow-up 3, assignment 4, visit 5)."""

    kind: str
    entries: Callable[..., Iterable[tuple[datetime, object]]]
    serializer: type
    template: str
    rank: int


TIMELINE_KINDS: dict[str, TimelineKind] = {}


def register_timeline_kind(kind: TimelineKind) -> None:
    TIMELINE_KINDS[kind.kind] = kind


@dataclass(frozen=True)
class StaleAction:
    """Another app's way to clear a stale lead (a tab of the stale card, after the lead's own four): ``form_class``
    (built with ``auto_id`` only), ``fields`` the template of its controls, ``act(actor=, lead=, form=)`` calls the
    app's service and returns the outcome shown on the card; its ValidationError / PermissionDenied land on the
    form."""

    action: str
    label: object
    form_class: type
    fields: str
    act: Callable[..., str]


STALE_ACTIONS: dict[str, StaleAction] = {}


def register_stale_action(action: StaleAction) -> None:
    STALE_ACTIONS[action.action] = action


#: Counts of the open leads kept by a higher app: ``counts(store_ids=, consultant_id=, today=, tomorrow=,
#: by_consultant=)`` returns the active leads of those stores (of that consultant's, when not None) per grade
#: ``"A"``..``"E"`` and ``"ungraded"``, ``"overdue"`` (due before ``today``, a local midnight) and ``"due_today"`` (due
#: from ``today`` to ``tomorrow``); with ``by_consultant``, ``{holder id (None: nobody): counts}``. None when it keeps
#: none here (the caller counts live). The last registered serves.
OPEN_COUNTS: list[Callable[..., dict[str, int] | None]] = []


def register_open_counts(counts: Callable[..., dict[str, int] | None]) -> None:
    if counts not in OPEN_COUNTS:
        OPEN_COUNTS.append(counts)
