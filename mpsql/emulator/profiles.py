"""User and group profiles of the synthetic project, consistent with its events (what Engage serves).

One user profile per identified user (``u_00001`` ...), all of whom signed up on or before the last data
day. Default properties are ``$``-prefixed as in Mixpanel; dates are ISO text without a zone (UTC):

- ``$created``: the user's ``Sign Up`` event time, or a seeded time on their sign-up day when that event
  is not in the data (signed up before the range, or the sign-up session ran past midnight);
- ``$last_seen``: the time of the user's last event under their own distinct id, or ``$created`` if none;
- ``$city``, ``$region``, ``$country_code``, ``$timezone``, ``$browser``, ``$os``: what their events carry;
- ``$first_name``, ``$last_name``, ``$name``, ``$email`` (missing on about 5%), custom ``age`` (missing on
  about 15%), ``tags`` (a list), ``company`` (about 60%; the id of a ``company`` group profile);
- ``plan`` (as on their ``Sign Up`` event), ``newsletter`` (from ``Sign Up``, else seeded),
  ``purchases`` and ``lifetime_value`` (count and rounded sum of ``amount`` over their deduplicated
  ``Purchase`` events in the data range), ``last_purchase`` (only when ``purchases > 0``).

Group profiles: one group key, ``company`` (``GROUP_KEYS``), whose profiles carry ``$name``, ``$created``,
``industry``, ``$country_code`` and ``seats`` (the number of user profiles naming the company).
Everything is deterministic per (seed, today, days, users) and computed once per Dataset.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import random
import re
import unicodedata
from typing import Any

from mpsql.emulator.datagen import Dataset

__all__ = ["COMPANY_GROUP_ID", "GROUP_KEYS", "group_profiles_for", "iso", "profiles_for"]

# Mixpanel group key ids can be large negative integers (docs/mixpanel-api.md, "Engage")
COMPANY_GROUP_ID = "-6081234129387415502"
GROUP_KEYS = {COMPANY_GROUP_ID: "company"}  # data_group_id -> group key

_FIRST = ("Ana", "João", "Yuki", "Lena", "Max", "Chloé", "Zoë", "Łukasz", "Priya", "Oliver", "Emma", "Noah",
          "Sofía", "Mateo", "Hana", "Jürgen", "Aiko", "Liam", "Amélie", "Ravi")
_LAST = ("Silva", "Tanaka", "Müller", "Schmidt", "Dubois", "Kowalski", "Sharma", "Smith", "García", "Brown",
         "Nguyen", "Rossi", "Novák", "Öztürk", "佐藤", "O'Brien")
_DOMAINS = ("example.com", "mail.example.org", "shop-users.example.net")
_PROFILE_TAGS = ("vip", "beta", "churn-risk", "wholesale", "newsletter-bounce", "🎁")
_TIMEZONES = {"São Paulo": "America/Sao_Paulo", "東京": "Asia/Tokyo", "Berlin": "Europe/Berlin",
              "San Francisco": "America/Los_Angeles", "New York": "America/New_York", "Paris": "Europe/Paris",
              "Zürich": "Europe/Zurich", "Kraków": "Europe/Warsaw", "Mumbai": "Asia/Kolkata",
              "London": "Europe/London", "Austin": "America/Chicago", "Toronto": "America/Toronto"}
_COMPANIES = (  # (group id = $name, industry, $country_code)
    ("Acme GmbH", "manufacturing", "DE"), ("Globex", "energy", "US"), ("Initech", "software", "US"),
    ("Umbrella Ltda", "pharma", "BR"), ("Hooli", "software", "US"), ("Pied Piper", "software", "US"),
    ("Soylent Corp", "food", "US"), ("Tyrell", "robotics", "JP"), ("株式会社サンプル", "retail", "JP"),
    ("Zürich Cloud AG", "software", "CH"), ("Łódź Logistics", "logistics", "PL"), ("Maison Dupont", "retail", "FR"),
)
_DISTINCT_ID = re.compile(rb'"distinct_id":"([^"]*)"')
_INSERT_ID = re.compile(rb'"\$insert_id":"([^"]*)"')
_DAY_S = 86_400


def iso(epoch_s: float) -> str:
    """Engage's date format: ``YYYY-MM-DDTHH:MM:SS`` in UTC, without a zone."""
    return dt.datetime.fromtimestamp(int(epoch_s), dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def profiles_for(ds: Dataset) -> dict[str, dict[str, Any]]:
    """distinct_id -> ``$properties`` of every user profile, in id order (cached; do not mutate)."""
    return ds.derived("profiles:users", _build_users)


def group_profiles_for(ds: Dataset, data_group_id: str) -> dict[str, dict[str, Any]]:
    """group id -> ``$properties`` of the group profiles of ``data_group_id`` (KeyError if unknown)."""
    key = GROUP_KEYS[data_group_id]
    return ds.derived(f"profiles:group:{key}", _build_companies)


# ---------------------------------------------------------------- users


class _Seen:
    """What one user's identified events say about them."""

    __slots__ = ("last_ms", "last_purchase_ms", "newsletter", "purchases", "signup_ms")

    def __init__(self) -> None:
        self.last_ms = -1
        self.signup_ms: int | None = None
        self.newsletter: bool | None = None
        self.purchases: dict[tuple[int, bytes], float] = {}  # dedup key (time ms, $insert_id) -> amount
        self.last_purchase_ms = -1


def _scan(ds: Dataset) -> dict[str, _Seen]:
    """One pass over every day; only Sign Up and Purchase lines are parsed as JSON."""
    seen: dict[str, _Seen] = {}
    for date in ds.dates(ds.first_date, ds.last_date):
        day = ds.day(date)
        for line, name, tms in zip(day.lines, day.events, day.times_ms, strict=True):
            m = _DISTINCT_ID.search(line)
            if m is None or m.group(1).startswith(b"$device:"):
                continue
            s = seen.get(m.group(1).decode())
            if s is None:
                s = seen[m.group(1).decode()] = _Seen()
            s.last_ms = max(s.last_ms, tms)
            if name == "Sign Up":
                if s.signup_ms is None or tms < s.signup_ms:
                    s.signup_ms = tms
                    s.newsletter = json.loads(line)["properties"].get("newsletter")
            elif name == "Purchase":
                ins = _INSERT_ID.search(line)
                amount = json.loads(line)["properties"].get("amount")
                # The reports' duplicate rule: the time in ms and $insert_id; no $insert_id, never collapsed.
                key = (tms, ins.group(1)) if ins else (tms, str(len(s.purchases)).encode())
                s.purchases[key] = amount if isinstance(amount, int | float) else 0
                s.last_purchase_ms = max(s.last_purchase_ms, tms)
    return seen


def _email_part(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]", "", folded)


def _build_users(ds: Dataset) -> dict[str, dict[str, Any]]:
    seen = _scan(ds)
    rng = random.Random(f"mpsql-emulator:{ds.seed}:profiles:{ds.n_users}:{ds.days}")
    out: dict[str, dict[str, Any]] = {}
    for user in ds.users():
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        domain = rng.choice(_DOMAINS)
        has_email = rng.random() >= 0.05
        age = rng.randint(18, 75) if rng.random() >= 0.15 else None
        tags = rng.sample(_PROFILE_TAGS, rng.choice((0, 0, 1, 1, 2, 3)))
        company = rng.choice(_COMPANIES)[0] if rng.random() < 0.6 else None
        created_s = rng.randrange(_DAY_S)  # drawn for everyone so later draws don't depend on the events
        newsletter = rng.random() < 0.4
        s = seen.get(user.distinct_id) or _Seen()
        signup_day_s = calendar.timegm(ds.signup_date(user).timetuple())
        created = s.signup_ms // 1000 if s.signup_ms is not None else signup_day_s + created_s
        last_seen = max(created, s.last_ms // 1000)
        city, region, cc = user.place
        number = user.distinct_id.removeprefix("u_")
        props: dict[str, Any] = {
            "$created": iso(created),
            "$last_seen": iso(last_seen),
            "$first_name": first,
            "$last_name": last,
            "$name": f"{first} {last}",
        }
        if has_email:
            props["$email"] = f"{_email_part(first) or 'user'}.{_email_part(last) or 'x'}.{number}@{domain}"
        props.update({
            "$city": city,
            "$region": region,
            "$country_code": cc,
            "$timezone": _TIMEZONES.get(city, "UTC"),
            "$browser": user.browser,
            "$os": user.os,
            "plan": user.plan,
            "newsletter": s.newsletter if isinstance(s.newsletter, bool) else newsletter,
            "purchases": len(s.purchases),
            "lifetime_value": round(float(sum(s.purchases.values())), 2),
            "tags": tags,
        })
        if s.purchases:
            props["last_purchase"] = iso(s.last_purchase_ms // 1000)
        if age is not None:
            props["age"] = age
        if company is not None:
            props["company"] = company
        out[user.distinct_id] = props
    return out


# ---------------------------------------------------------------- groups


def _build_companies(ds: Dataset) -> dict[str, dict[str, Any]]:
    users = profiles_for(ds)
    seats: dict[str, int] = {}
    for props in users.values():
        if "company" in props:
            seats[props["company"]] = seats.get(props["company"], 0) + 1
    rng = random.Random(f"mpsql-emulator:{ds.seed}:companies")
    first_s = calendar.timegm(ds.first_date.timetuple())
    out: dict[str, dict[str, Any]] = {}
    for name, industry, cc in sorted(_COMPANIES):
        created = first_s - rng.randrange(30, 900) * _DAY_S + rng.randrange(_DAY_S)
        out[name] = {"$name": name, "$created": iso(created), "industry": industry, "$country_code": cc,
                     "seats": seats.get(name, 0)}
    return out
