"""Error texts in Mixpanel's wording (docs/mixpanel-api.md: "Authentication", "Rate limits",
"Report conventions", "Error catalogue"); [E] where Mixpanel's text is unknown."""

from __future__ import annotations

RATE_DOC_URL = "https://help.mixpanel.com/hc/en-us/articles/115004602563-Rate-Limits-for-Export-API-Endpoints"

AUTH_FAILED = "Unable to authenticate request"
PROJECT_ID_REQUIRED = "Unable to authenticate request"  # SA without project_id: same text, 401
PROJECT_FORBIDDEN = "You do not have permission to access this project"  # [E] 403
WORKSPACE_FORBIDDEN = "You do not have permission to access this data view"  # [E] 403
WORKSPACE_ID_INVALID = "workspace_id must be an integer"  # [E] 400
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

# Engage (docs/mixpanel-api.md, "Engage"; the combination rules are the spec's and mixpanel_data's, the wording is [E])
ENGAGE_ID_AND_IDS = "Error in distinct_ids: distinct_id and distinct_ids cannot be used together"
ENGAGE_BEHAVIORS_AND_COHORT = "Error in behaviors: behaviors and filter_by_cohort are mutually exclusive"
ENGAGE_INCLUDE_ALL_USERS = "Error in include_all_users: only applicable with filter_by_cohort"
ENGAGE_PAGE_WITHOUT_SESSION = "Error in session_id: session_id is required when page is greater than 0"
ENGAGE_INVALID_SESSION = "invalid session"
ENGAGE_UNCACHED_PAGE = "request for page in uncached query for params"  # [D] behaviors paged without as_of
ENGAGE_AS_OF_FUTURE = "Error in as_of_timestamp: must not be in the future"
ENGAGE_UNKNOWN_GROUP = "Error in data_group_id: unknown group key"

# App API (docs/mixpanel-api.md, "Lexicon schemas", "Annotations"; [E] wording)
SCHEMA_NOT_FOUND = "Schema not found"
ENTITY_TYPE_INVALID = "Invalid entity type: must be one of event, profile"
ANNOTATION_NOT_FOUND = "Annotation not found"


def missing_param(name: str) -> str:
    """400 text for a required parameter that was not sent."""
    return f"'{name}' is a required parameter"


def bad_date(name: str) -> str:
    """400 text for a date that is not yyyy-mm-dd."""
    return f"Error in {name}: invalid date, expected yyyy-mm-dd"


def bad_year(name: str) -> str:
    """400 text for a date before 2000 (observed wording)."""
    return f"Error in {name}: invalid date, bad year"


def bad_param(name: str, expected: str) -> str:
    """400 text for a parameter with an unusable value ([E])."""
    return f"Error in {name}: {expected}"


def unknown_cohort(cohort_id: object) -> str:
    """400 text for ``filter_by_cohort`` naming no saved cohort ([E])."""
    return f"Error in filter_by_cohort: cohort {cohort_id} not found"


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
