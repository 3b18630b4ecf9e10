"""The synthetic project's saved cohorts, Lexicon schemas and annotations (docs/mixpanel-api.md: "Cohorts list",
"Lexicon schemas", "Annotations").

Cohorts are defined so their members can be computed exactly: three by a profile-property expression
(evaluated like Engage's ``where``) and one by behaviour (everyone, profile or not, who did an event in
the last days of the data). Schemas describe the generator's events and the user profile; annotations
sit on days inside the data range. All deterministic per Dataset.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from typing import Any

from mpsql.emulator.datagen import EVENT_NAMES, Dataset
from mpsql.emulator.eventstore import store_for
from mpsql.emulator.profiles import profiles_for
from mpsql.emulator.where import compile_where

__all__ = ["COHORTS", "Cohort", "annotation_tags", "annotations", "cohort", "cohort_members", "cohorts_list",
           "schema_entries"]


# ---------------------------------------------------------------- cohorts


@dataclass(frozen=True)
class Cohort:
    """A saved cohort: members match ``where`` over profile properties, or did ``event`` in the last ``days``."""

    id: int
    name: str
    description: str
    is_visible: int
    created_days_before: int  # days before the data range's first day
    where: str | None = None
    event: str | None = None
    days: int = 7


COHORTS = (
    Cohort(1001, "Paying users", "Users with at least one purchase.", 1, 40, where='properties["purchases"] > 0'),
    Cohort(1002, "Berlin", "Users whose profile city is Berlin.", 1, 25, where='properties["$city"] == "Berlin"'),
    Cohort(1003, "Pro plan", "Users on the pro plan.", 1, 12, where='properties["plan"] == "pro"'),
    Cohort(1004, "Recent visitors", "Anyone who viewed a page in the last 7 days, signed up or not.", 0, 3,
           event="Page View", days=7),
)


def cohort(cohort_id: int) -> Cohort:
    """The saved cohort ``cohort_id`` (KeyError if there is none)."""
    for c in COHORTS:
        if c.id == cohort_id:
            return c
    raise KeyError(cohort_id)


def cohort_members(ds: Dataset, cohort_id: int) -> list[str]:
    """Sorted distinct ids in the cohort; behavioural cohorts include ids without a profile (cached)."""
    c = cohort(cohort_id)
    return ds.derived(f"cohort:{c.id}", lambda d: _members(d, c))


def _members(ds: Dataset, c: Cohort) -> list[str]:
    if c.where is not None:
        expr = compile_where(c.where)
        return sorted(did for did, props in profiles_for(ds).items() if expr.matches(props, {"user": props}))
    since = ds.last_date - dt.timedelta(days=c.days - 1)
    store = store_for(ds)  # the deduplicated events, parsed once for every report
    members: set[str] = set()
    for date in ds.dates(since, ds.last_date):
        block = store.day(date).get(c.event)
        if block is not None:
            members.update(block.cols["distinct_id"])
    return sorted(members)


def cohorts_list(ds: Dataset, project_id: int) -> list[dict[str, Any]]:
    """The ``/cohorts/list`` body: one object per saved cohort, in id order."""
    out = []
    for c in COHORTS:
        created = dt.datetime.combine(ds.first_date - dt.timedelta(days=c.created_days_before), dt.time(9, 30))
        created += dt.timedelta(minutes=7 * (c.id % 100), seconds=c.id % 60)
        out.append({"count": len(cohort_members(ds, c.id)), "is_visible": c.is_visible, "description": c.description,
                    "created": created.strftime("%Y-%m-%d %H:%M:%S"), "project_id": project_id, "id": c.id,
                    "name": c.name})
    return out


# ---------------------------------------------------------------- Lexicon schemas

_TEAM = {"contacts": ["analytics@shop.example.com"], "teamContacts": ["Analytics"]}


def _prop(type_: str, description: str, display: str | None = None, hidden: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type_, "description": description}
    if display is not None or hidden:
        meta: dict[str, Any] = {"hidden": hidden}
        if display is not None:
            meta["displayName"] = display
        out["metadata"] = {"com.mixpanel": meta}
    return out


_EVENT_SCHEMAS: dict[str, tuple[str, list[str], dict[str, dict[str, Any]]]] = {
    # event -> (description, tags, properties); "Share" deliberately has no schema (Lexicon is not a catalogue)
    "Sign Up": ("A visitor created an account; they are identified from this event on.", ["Onboarding"], {
        "plan": _prop("string", "Plan chosen at sign-up: free, pro or team."),
        "newsletter": _prop("boolean", "Opted in to the newsletter."),
        "referrer": _prop("string", "How they heard of the shop, if they said."),
    }),
    "Login": ("A returning user logged in.", ["Onboarding"], {
        "method": _prop("string", "password, google or sso."),
        "remember_me": _prop("boolean", "Kept the session on this device."),
    }),
    "Page View": ("Any page of the shop was viewed.", ["Engagement"], {
        "page_title": _prop("string", "Title of the page.", "Page title"),
        "referrer": _prop("string", "Referring source, null when direct."),
        "load_ms": _prop("integer", "Page load time in milliseconds.", hidden=True),
    }),
    "Search": ("A search query was run.", ["Engagement", "Discovery"], {
        "query": _prop("string", "The text searched for (may be empty)."),
        "results": _prop("integer", "Number of results shown."),
    }),
    "View Item": ("A product page was opened.", ["Shopping"], {
        "item_id": _prop("string", "Product SKU.", "SKU"),
        "price": _prop("number", "Current price."),
        "category": _prop("string", "Product category."),
        "tags": _prop("array", "Merchandising tags on the product."),
        "in_stock": _prop("boolean", "Whether the item could be bought."),
        "rating": _prop("number", "Average review rating; null when unrated."),
    }),
    "Add to Cart": ("An item went into the basket.", ["Shopping"], {
        "item_id": _prop("string", "Product SKU.", "SKU"),
        "price": _prop("number", "Unit price.", "Price"),
        "quantity": _prop("integer", "Units added."),
        "cart": _prop("object", "Basket summary: items and currency."),
    }),
    "Checkout": ("The checkout form was submitted.", ["Shopping", "Revenue"], {
        "cart": _prop("object", "Basket summary: items, currency and total."),
        "items": _prop("array", "The basket's items (sku, price)."),
        "coupon": _prop("string", "Coupon code used, if any."),
    }),
    "Purchase": ("Payment succeeded.", ["Revenue"], {
        "amount": _prop("number", "Order total in the order currency.", "Amount"),
        "currency": _prop("string", "ISO currency code."),
        "items": _prop("array", "Items bought (sku, price)."),
        "item_count": _prop("integer", "Number of distinct items."),
        "first_purchase": _prop("boolean", "The customer's first order."),
        "payment": _prop("object", "Payment method and installments."),
    }),
}

_PROFILE_SCHEMA: dict[str, Any] = {
    "description": "A registered shop customer.",
    "properties": {
        "$email": _prop("string", "Contact email.", "Email"),
        "plan": _prop("string", "Current plan: free, pro or team."),
        "purchases": _prop("integer", "Number of completed purchases."),
        "lifetime_value": _prop("number", "Sum of all purchase amounts.", "LTV"),
        "last_purchase": _prop("string", "Time of the latest purchase (ISO date)."),
        "tags": _prop("array", "CRM tags."),
        "company": _prop("string", "Company account the user belongs to."),
        "age": _prop("integer", "Self-reported age."),
        "newsletter": _prop("boolean", "Subscribed to the newsletter."),
    },
    "metadata": {"com.mixpanel": {"displayName": "User", "tags": ["CRM"], "hidden": False, **_TEAM}},
}


def schema_entries() -> list[dict[str, Any]]:
    """Every Lexicon ``SchemaEntry`` (events in generator order, then the ``profile``/``$user`` schema)."""
    entries = []
    for name in EVENT_NAMES:
        if name not in _EVENT_SCHEMAS:
            continue
        description, tags, props = _EVENT_SCHEMAS[name]
        meta = {"displayName": name, "tags": tags, "hidden": False, "dropped": False, **_TEAM}
        entries.append({"entityType": "event", "name": name,
                        "schemaJson": {"description": description, "properties": props,
                                       "metadata": {"com.mixpanel": meta}}})
    entries.append({"entityType": "profile", "name": "$user", "schemaJson": _PROFILE_SCHEMA})
    return copy.deepcopy(entries)


# ---------------------------------------------------------------- annotations

_ANNOTATION_TAGS = ((1, "release"), (2, "marketing"), (3, "incident"))
_AUTHOR = {"id": 7001, "first_name": "Dana", "last_name": "Okafor"}
_ANNOTATIONS = (  # (id, share of the data range, time of day, description, tag ids)
    (5101, 0.05, dt.time(8, 0), "Spring sale starts", (2,)),
    (5102, 0.30, dt.time(14, 30), "Checkout v2 released", (1,)),
    (5103, 0.50, dt.time(10, 15), "Newsletter: new arrivals", (2,)),
    (5104, 0.70, dt.time(3, 45), "Payment provider outage (pix)", (3,)),
    (5105, 0.95, dt.time(17, 0), "Mobile app 3.0 released", (1, 2)),
)


def annotations(ds: Dataset) -> list[dict[str, Any]]:
    """Every annotation, oldest first, each dated on a day inside the data range."""
    names = dict(_ANNOTATION_TAGS)
    out = []
    for aid, share, at, description, tag_ids in _ANNOTATIONS:
        day = ds.first_date + dt.timedelta(days=int(share * (ds.days - 1)))
        out.append({"id": aid, "date": dt.datetime.combine(day, at).strftime("%Y-%m-%d %H:%M:%S"),
                    "description": description, "user": dict(_AUTHOR),
                    "tags": [{"id": t, "name": names[t]} for t in tag_ids]})
    return out


def annotation_tags(project_id: int) -> list[dict[str, Any]]:
    """The project's annotation tags (the bare array ``GET .../annotations/tags`` returns)."""
    used = {t for *_, tag_ids in _ANNOTATIONS for t in tag_ids}
    return [{"id": tid, "name": name, "project_id": project_id, "has_annotations": tid in used}
            for tid, name in _ANNOTATION_TAGS]
