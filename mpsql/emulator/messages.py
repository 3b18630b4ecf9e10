"""Error texts in Mixpanel's wording (FACTS §2.4, §3.1, §4, §6); [E] where Mixpanel's text is unknown."""

from __future__ import annotations

RATE_DOC_URL = "https://help.mixpanel.com/hc/en-us/articles/115004602563-Rate-Limits-for-Export-API-Endpoints"

AUTH_FAILED = "Unable to authenticate request"
PROJECT_ID_REQUIRED = "Unable to authenticate request"  # SA without project_id: same text, 401
PROJECT_FORBIDDEN = "You do not have permission to access this project"  # [E] 403
APP_AUTH_FAILED = "Authentication failed: invalid service account credentials"  # [E]
INVALID_ENDPOINT = "Invalid API endpoint"
NOT_FOUND = "Not found"

LIMIT_TOO_LARGE = "limit must be <= 100000"
LIMIT_INVALID = "Error in limit: must be a positive integer"  # [E]
TO_DATE_FUTURE = "to_date cannot be later than today"
FROM_AFTER_TO = "from_date cannot be later than to_date"  # [E]
EVENT_INVALID = "Error in event: must be a JSON-encoded array of event names"  # [E]
TIME_IN_MS_INVALID = "Error in time_in_ms: must be true or false"  # [E]
EXPORT_CONCURRENCY = "too many export requests in progress for this project"


def missing_param(name: str) -> str:
    """400 text for a required parameter that was not sent."""
    return f"'{name}' is a required parameter"


def bad_date(name: str) -> str:
    """400 text for a date that is not yyyy-mm-dd."""
    return f"Error in {name}: invalid date, expected yyyy-mm-dd"


def bad_year(name: str) -> str:
    """400 text for a date before 2000 (observed wording)."""
    return f"Error in {name}: invalid date, bad year"


def bad_where(detail: str) -> str:
    """400 text for an unparsable segmentation expression."""
    return f"Error in where: invalid expression: {detail}"


def query_rate_limited(project_id: int, running: int, max_conc: int | None, last_hour: int,
                       max_hour: int | None) -> str:
    """429 text of the Query API (observed pattern)."""
    return (f"Query rate limit exceeded for project_id: {project_id}. "
            f"{running}/{_n(max_conc)} queries running concurrently "
            f"and {last_hour}/{_n(max_hour)} queries running in the last hour. "
            f"For more information, please consult our documentation at {RATE_DOC_URL}")


def export_rate_limited(project_id: int, last_second: int, max_second: int | None, last_hour: int,
                        max_hour: int | None) -> str:
    """429 text for the export hourly / per-second budgets ([E], modelled on the Query API text)."""
    return (f"Export rate limit exceeded for project_id: {project_id}. "
            f"{last_second}/{_n(max_second)} queries in the last second "
            f"and {last_hour}/{_n(max_hour)} queries in the last hour. "
            f"For more information, please consult our documentation at {RATE_DOC_URL}")


def _n(v: int | None) -> str:
    return "unlimited" if v is None else str(v)
