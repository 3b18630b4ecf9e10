"""Seeded synthetic e-commerce project: users, sessions, funnel drop-off, retention decay, duplicates.

Every day is generated independently from ``Random(f"{seed}:{day}")`` (plus the seeded user table),
so any single day is cheap and the same (seed, today, days, users) always yields the same bytes.
Days are kept as pre-encoded JSONL lines in a small LRU cache.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import math
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["EVENT_NAMES", "Dataset", "DayData", "User"]

_T = TypeVar("_T")

EVENT_NAMES = ("Sign Up", "Login", "Page View", "Search", "View Item", "Add to Cart", "Checkout",
               "Purchase", "Share")

_PLACES = (  # ($city, $region, mp_country_code)
    ("São Paulo", "São Paulo", "BR"), ("東京", "Tokyo", "JP"), ("Berlin", "Berlin", "DE"),
    ("San Francisco", "California", "US"), ("New York", "New York", "US"), ("Paris", "Île-de-France", "FR"),
    ("Zürich", "Zurich", "CH"), ("Kraków", "Lesser Poland", "PL"), ("Mumbai", "Maharashtra", "IN"),
    ("London", "England", "GB"), ("Austin", "Texas", "US"), ("Toronto", "Ontario", "CA"),
)
_BROWSERS = ("Chrome", "Safari", "Firefox", "Edge", "Mobile Safari", "Chrome Mobile")
_OS = ("Windows", "Mac OS X", "iOS", "Android", "Linux")
_LIBS = ("web", "web", "web", "android", "iphone")
_CATEGORIES = ("books", "shoes", "électronique", "garden", "toys", "kitchen")
_TAGS = ("sale", "new", "eco", "bestseller", "limited", "🔥")
_QUERIES = ("red shoes", "café mug", "東京 guide", "laptop", "lego 🚀", "garden hose", "naïve art",
            "\"quoted\" query", "tab\there", "")
_PAGES = ("/", "/home", "/catalog", "/deals", "/help", "/account", "/blog/über-uns")
_CURRENCIES = ("EUR", "USD", "BRL", "JPY")
_PLANS = ("free", "free", "free", "pro", "team")
_INSERT_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_DAY_S = 86_400


@dataclass(frozen=True)
class User:
    """One identified user of the project, as the generator drives them (read-only)."""

    distinct_id: str
    device_id: str
    signup: int  # day index relative to first_date (may be negative: signed up before the range)
    place: tuple[str, str, str]
    browser: str
    os: str
    lib: str
    plan: str
    activity: float  # personal multiplier on the daily session probability


@dataclass(frozen=True)
class DayData:
    """One generated day: encoded JSONL lines (time in seconds) with their event names and ms times."""

    lines: list[bytes]
    events: list[str]
    times_ms: list[int]


class Dataset:
    """The synthetic project's events: data covers [today - days, today - 1] (UTC)."""

    def __init__(self, seed: int, today: dt.date, days: int, users: int, cache_days: int = 40) -> None:
        if days < 1 or users < 1:
            raise ValueError("days and users must be >= 1")
        self.seed = seed
        self.today = today
        self.days = days
        self.n_users = users
        self.first_date: dt.date = today - dt.timedelta(days=days)
        self.last_date: dt.date = today - dt.timedelta(days=1)
        self._cache: OrderedDict[dt.date, DayData] = OrderedDict()
        self._cache_days = cache_days
        self._lock = threading.Lock()
        self._users = self._make_users()
        self._no_derived_yet()

    # ------------------------------------------------------------ public

    def day(self, date: dt.date) -> DayData:
        """The generated data of one UTC day (empty outside the data range); cached."""
        if not (self.first_date <= date <= self.last_date):
            return DayData([], [], [])
        with self._lock:
            hit = self._cache.get(date)
            if hit is not None:
                self._cache.move_to_end(date)
                return hit
        data = self._generate_day(date)
        with self._lock:
            self._cache[date] = data
            while len(self._cache) > self._cache_days:
                self._cache.popitem(last=False)
        return data

    def dates(self, from_date: dt.date, to_date: dt.date) -> list[dt.date]:
        """The days of [from_date, to_date] that hold data, in order."""
        lo, hi = max(from_date, self.first_date), min(to_date, self.last_date)
        return [lo + dt.timedelta(days=i) for i in range((hi - lo).days + 1)] if lo <= hi else []

    def export_records(self, from_date: dt.date, to_date: dt.date, time_in_ms: bool = False) -> list[dict[str, Any]]:
        """Exactly the records an unfiltered /export of the inclusive UTC range serves, in served order (``time``
        in milliseconds with ``time_in_ms``)."""
        out = []
        for d in self.dates(from_date, to_date):
            day = self.day(d)
            for line, tms in zip(day.lines, day.times_ms, strict=True):
                rec = json.loads(line)
                if time_in_ms:
                    rec["properties"]["time"] = tms
                out.append(rec)
        return out

    def user_ids(self) -> list[str]:
        """Distinct ids of every identified user of the project."""
        return [u.distinct_id for u in self._users]

    def users(self) -> tuple[User, ...]:
        """Every identified user with the attributes the generator gives their events, in id order."""
        return tuple(self._users)

    def signup_date(self, user: User) -> dt.date:
        """The UTC day ``user`` signed up (before ``first_date`` for users older than the data range)."""
        return self.first_date + dt.timedelta(days=user.signup)

    def records(self, from_date: dt.date, to_date: dt.date, dedup: bool = True) -> Iterator[dict[str, Any]]:
        """Parsed export records of the inclusive range, day by day, in served order (``time`` in seconds).

        With ``dedup`` each (event, distinct_id, time, $insert_id) key appears once, as the copy with the greatest
        ``mp_processing_time_ms`` (the later copy on a tie) at the position of its first copy: what Mixpanel's
        reports count (docs/report-semantics.md, "Duplicates"); ``time`` is compared in milliseconds, and
        records without an ``$insert_id`` are never collapsed.
        """
        for date in self.dates(from_date, to_date):
            data = self.day(date)
            rows = [json.loads(line) for line in data.lines]
            if not dedup:
                yield from rows
                continue
            kept: dict[tuple[Any, ...], dict[str, Any]] = {}
            for i, row in enumerate(rows):
                p = row["properties"]
                if not isinstance(p.get("$insert_id"), str):
                    kept[("no $insert_id", i)] = row
                    continue
                key = (row["event"], p["distinct_id"], data.times_ms[i], p["$insert_id"])
                old = kept.get(key)
                if old is None or _processed(p) >= _processed(old["properties"]):
                    kept[key] = row  # an existing key keeps its position
            yield from kept.values()

    def _no_derived_yet(self) -> None:
        """The cache ``derived`` fills (every Dataset, generated or replayed, starts with it empty)."""
        self._derived: dict[str, Any] = {}
        self._derived_lock = threading.Lock()  # guards the two dicts; each key is built under its own lock
        self._derived_building: dict[str, threading.RLock] = {}

    def derived(self, key: str, build: Callable[[Dataset], _T]) -> _T:
        """``build(self)`` computed once per dataset and cached under ``key`` (for costly derived data)."""
        with self._derived_lock:
            if key in self._derived:
                return self._derived[key]
            building = self._derived_building.setdefault(key, threading.RLock())
        # One build per key at a time; other keys (the export's event store while the report index builds) are
        # not held up by it.
        with building:
            with self._derived_lock:
                if key in self._derived:
                    return self._derived[key]
            value = build(self)
            with self._derived_lock:
                self._derived[key] = value
            return value

    # ------------------------------------------------------------ generation

    def _make_users(self) -> list[User]:
        rng = random.Random(f"mpsql-emulator:{self.seed}:users:{self.n_users}:{self.days}")
        users = []
        for i in range(self.n_users):
            users.append(User(
                distinct_id=f"u_{i + 1:05d}",
                device_id=_hex_id(rng, 32),
                signup=rng.randrange(-self.days // 2, self.days),
                place=rng.choice(_PLACES),
                browser=rng.choice(_BROWSERS),
                os=rng.choice(_OS),
                lib=rng.choice(_LIBS),
                plan=rng.choice(_PLANS),
                activity=rng.uniform(0.4, 1.6),
            ))
        return users

    def _generate_day(self, date: dt.date) -> DayData:
        rng = random.Random(f"mpsql-emulator:{self.seed}:day:{date.isoformat()}")
        idx = (date - self.first_date).days
        day_start_ms = calendar.timegm(date.timetuple()) * 1000
        events: list[tuple[int, str, dict[str, Any]]] = []
        for user in self._users:
            age = idx - user.signup
            if age < 0:
                continue
            if age == 0:
                self._session(rng, user, day_start_ms, events, signup=True)
                continue
            p = min(0.95, user.activity * (0.14 + 0.5 * math.exp(-age / 12.0)))
            if rng.random() < p:
                self._session(rng, user, day_start_ms, events, signup=False)
                if rng.random() < 0.15:
                    self._session(rng, user, day_start_ms, events, signup=False)
        events.sort(key=lambda e: e[0])
        rows: list[tuple[str, dict[str, Any]]] = []
        for time_ms, name, props in events:
            props["mp_processing_time_ms"] = time_ms + rng.randrange(40, 7_200_000)
            rows.append((name, props))
        # ~1% duplicates: same key 4-tuple, later processing time, a differing non-key property.
        for i in range(len(rows) - 1, -1, -1):
            if rng.random() < 0.01:
                name, props = rows[i]
                dup = dict(props)
                dup["mp_processing_time_ms"] = props["mp_processing_time_ms"] + rng.randrange(1000, 3_600_000)
                dup["$lib_version"] = "2.49.1-retry"
                dup["$import"] = True
                rows.insert(rng.randrange(i + 1, len(rows) + 1), (name, dup))
        self._edge_cases(date, rows)
        lines, names, times = [], [], []
        for name, props in rows:
            tms = props["time"]
            out = dict(props)
            out["time"] = tms // 1000
            lines.append(json.dumps({"event": name, "properties": out}, ensure_ascii=False,
                                    separators=(",", ":")).encode("utf-8") + b"\n")
            names.append(name)
            times.append(tms)
        return DayData(lines, names, times)

    def _edge_cases(self, date: dt.date, rows: list[tuple[str, dict[str, Any]]]) -> None:
        """The duplicate rules' edge cases (docs/report-semantics.md, "Duplicates"), from an RNG of their own
        so the rest of the day is unchanged: ~0.4% of events lack ``$insert_id`` (half of them sent twice,
        and both copies count); ~0.3% get a copy whose time differs only in milliseconds (the same second:
        two events once compared in milliseconds); ~0.3% get a copy with the same ``mp_processing_time_ms`` (a
        tie: the copy served later is kept)."""
        rng = random.Random(f"mpsql-emulator:{self.seed}:edge:{date.isoformat()}")
        for i in range(len(rows) - 1, -1, -1):
            name, props = rows[i]
            r = rng.random()
            if r < 0.004:
                bare = {k: v for k, v in props.items() if k != "$insert_id"}
                rows[i] = (name, bare)
                if rng.random() < 0.5:
                    rows.insert(i + 1, (name, dict(bare, mp_processing_time_ms=bare["mp_processing_time_ms"] + 500)))
            elif r < 0.007:
                t = props["time"]
                ms = (t % 1000 + rng.randrange(1, 1000)) % 1000
                later = props["mp_processing_time_ms"] + rng.randrange(1000, 60_000)
                copy = dict(props, time=t - t % 1000 + ms, mp_processing_time_ms=later, **{"$lib_version": "2.49.1-ms"})
                rows.insert(rng.randrange(i + 1, len(rows) + 1), (name, copy))
            elif r < 0.010:
                tie = dict(props, **{"$lib_version": "2.49.1-tie"})
                rows.insert(rng.randrange(i + 1, len(rows) + 1), (name, tie))

    def _session(self, rng: random.Random, user: User, day_start_ms: int,
                 out: list[tuple[int, str, dict[str, Any]]], signup: bool) -> None:
        t = day_start_ms + rng.randrange(0, _DAY_S * 1000)
        end = day_start_ms + _DAY_S * 1000
        identified = not signup
        currency = rng.choice(_CURRENCIES)

        def emit(name: str, extra: dict[str, Any]) -> None:
            nonlocal t
            if t >= end:
                return
            city, region, cc = user.place
            props: dict[str, Any] = {
                "time": t,
                "distinct_id": user.distinct_id if identified else f"$device:{user.device_id}",
                "$insert_id": _insert_id(rng),
                "$browser": user.browser,
                "$os": user.os,
                "$city": city,
                "$region": region,
                "mp_country_code": cc,
                "$current_url": f"https://shop.example.com{rng.choice(_PAGES)}",
                "$device_id": user.device_id,
                "mp_lib": user.lib,
                "$lib_version": "2.49.0",
            }
            if identified:
                props["$user_id"] = user.distinct_id
            props.update(extra)
            out.append((t, name, props))
            t += rng.randrange(2_000, 180_000)

        for _ in range(rng.randint(1, 3)):
            emit("Page View", {"page_title": rng.choice(("Home", "Deals", "Ofertas ☀️", "ホーム")),
                               "referrer": rng.choice((None, None, "google", "newsletter")),
                               "load_ms": rng.randint(80, 4000)})
        if signup:
            identified = True
            emit("Sign Up", {"plan": user.plan, "newsletter": rng.random() < 0.4,
                             "referrer": rng.choice((None, "ads", "friend"))})
        elif rng.random() < 0.5:
            emit("Login", {"method": rng.choice(("password", "google", "sso")),
                           "remember_me": rng.random() < 0.5})
        if rng.random() < 0.6:
            emit("Search", {"query": rng.choice(_QUERIES), "results": rng.randint(0, 120)})
        viewed: list[dict[str, Any]] = []
        for _ in range(rng.choice((0, 1, 1, 2, 3, 4))):
            item = {"sku": f"SKU-{rng.randint(1, 400):04d}", "price": round(rng.uniform(2, 300), 2)}
            viewed.append(item)
            emit("View Item", {"item_id": item["sku"], "price": item["price"],
                               "category": rng.choice(_CATEGORIES),
                               "tags": rng.sample(_TAGS, rng.randint(0, 3)),
                               "in_stock": rng.random() < 0.9,
                               "rating": rng.choice((None, 3, 4, 4.5, 5))})
        if viewed and rng.random() < 0.3:
            cart = viewed[: rng.randint(1, len(viewed))]
            qty = rng.randint(1, 3)
            total = round(sum(i["price"] for i in cart) * qty, 2)
            emit("Add to Cart", {"item_id": cart[-1]["sku"], "price": cart[-1]["price"], "quantity": qty,
                                 "cart": {"items": len(cart), "currency": currency}})
            if rng.random() < 0.55:
                emit("Checkout", {"cart": {"items": len(cart), "currency": currency, "total": total},
                                  "items": cart, "coupon": rng.choice((None, None, "SPRING10", "ÉTÉ-5"))})
                if rng.random() < 0.75:
                    emit("Purchase", {"amount": total, "currency": currency, "items": cart,
                                      "item_count": len(cart), "first_purchase": rng.random() < 0.3,
                                      "payment": {"method": rng.choice(("card", "paypal", "pix")),
                                                  "installments": rng.choice((1, 1, 3, 12))}})
        if rng.random() < 0.05:
            emit("Share", {"channel": rng.choice(("twitter", "whatsapp", "email", "微信")),
                           "message": rng.choice(("Look at this 😍", "Olá!", "see\nthis", None))})


def _processed(props: dict[str, Any]) -> float:
    v = props.get("mp_processing_time_ms")
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else float("-inf")


def _hex_id(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def _insert_id(rng: random.Random) -> str:
    if rng.random() < 0.5:
        h = _hex_id(rng, 32)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return "".join(rng.choices(_INSERT_ALPHABET, k=rng.randint(16, 30)))
