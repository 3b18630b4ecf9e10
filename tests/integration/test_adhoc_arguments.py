"""Ad-hoc report calls refuse bad arguments before any request, naming the argument and what is valid."""

from __future__ import annotations

import pytest

from tests.integration.refusals import assert_refused_before_any_request

R = "'2024-03-01', '2024-03-02'"
STEPS = "steps := ['Sign Up', 'Purchase']"
FLOW = "mp_flows(NULL, event := 'Login', from_date := '2024-03-01', to_date := '2024-03-02'"

REFUSED = [
    # (call, argument, what the message says)
    (f"mp_insights(NULL, {R})", "events", "is required"),
    (f"mp_insights([], {R})", "events", "empty list"),
    ("mp_insights('Login', '2024-03-02', '2024-03-01')", "from_date", "after to_date"),
    ("mp_insights('Login', '2024-03-01', '2024-04-02')", "to_date", "in the future"),
    (f"mp_insights('Login', {R}, math := 'sessions')", "math", "is not valid"),
    (f"mp_insights('Purchase', {R}, math := 'median')", "property", "is required with math := 'median'"),
    (f"mp_insights('Purchase', {R}, math := 'p90')", "property", "numeric event property"),
    (f"mp_insights('Purchase', {R}, math := 'unique', property := 'amount')", "property", "counts users"),
    (f"mp_insights('Purchase', {R}, property := 'amount')", "property", "math := 'sum'"),
    (f"mp_insights('Login', {R}, math := 'wau', unit := 'week')", "unit", "daily value"),
    (f"mp_insights('Login', {R}, unit := 'hour')", "unit", "is not valid"),
    (f"mp_insights('Login', {R}, top := 3)", "top", "only applies with by"),
    (f"mp_insights('Login', {R}, by := ['$browser'], top := 50001)", "top", "less than or equal"),
    (f"mp_insights('Login', {R}, by := ['properties[\"a\"] + 1'])", "by", "is not a property"),
    (f"mp_insights('Login', {R}, filter := 'properties[\"a\"] == \"x\" or properties[\"b\"] == 1')", "filter",
     "expected 'and'"),
    (f"mp_insights('Login', {R}, filter := 'country == \"US\"')", "filter", "cannot be turned into"),
    (f"mp_insights('Login', {R}, filter := 'properties[\"n\"] > \"ten\"')", "filter", "compares numbers"),
    (f"mp_insights('Login', {R}, formula := 'A * 2')", "formula", "two or more events"),
    (f"mp_insights(['Login', 'Purchase'], {R}, formula := 'C / A')", "formula", "C names no event"),
    (f"mp_insights(['Login', 'Purchase'], {R}, formula := '(B / A')", "formula", "not closed"),
    (f"mp_insights(['Login', 'Purchase'], {R}, formula := 'B % A')", "formula", "unexpected '%"),
    (f"mp_insights(['Login', 'Purchase'], {R}, formula := 'B /')", "formula", "ends without its last operand"),
    (f"mp_insights(['Login', 'Purchase'], {R}, formula := 'A B')", "formula", "needs an operator before it"),
    (f"mp_insights(['Login', 'Purchase'], {R}, formula := '* A')", "formula", "unexpected '*' at position 1"),
    (f"mp_insights(['Login', 'Purchase'], {R}, formula := 'A ^ -B')", "formula", "unexpected '-' at position 5"),
    (f"mp_insights('Login', {R}, compare := 'last_year')", "compare", "is not valid"),
    (f"mp_insights('Login', {R}, definition := '{{}}')", "events", "cannot be combined with definition"),
    (f"mp_insights(NULL, {R}, definition := 'not json')", "definition", "is not JSON"),
    (f"mp_insights(NULL, {R}, definition := '[1]')", "definition", "not an object"),
    (f"mp_insights(NULL, {R}, definition := '{'[' * 5000}{']' * 5000}')", "definition", "nests too deeply"),
    (f"mp_funnel(NULL, {R}, definition := '{{\"sections\": NaN}}')", "definition", "NaN is not a JSON number"),
    ("mp_flows(NULL, definition := '{\"steps\": [1e999]}')", "definition", "out of range"),
    (f"mp_insights('Login', {R}, filter := 'properties[\"n\"] > 1e999')", "filter", "out of range"),
    (f"mp_insights(NULL, {R}, definition := '{{\"sections\": {{\"show\": []}}}}')", "definition",
     "sections.show"),
    (f"mp_insights(NULL, {R}, math := 'unique', definition := '{{}}')", "math", "cannot be combined"),
    (f"mp_funnel(NULL, {R})", "funnel_id", "or NULL with steps"),
    (f"mp_funnel(7001, {R}, {STEPS})", "steps", "cannot be combined with a saved funnel_id"),
    (f"mp_funnel(NULL, {R}, steps := ['Sign Up'])", "steps", "2 to 100 event names"),
    (f"mp_funnel(NULL, {R}, steps := ['Sign Up', ''])", "steps", "contains an empty name"),
    (f"mp_funnel(NULL, {R}, {STEPS}, unit := 'week')", "unit", "whole range as one bucket"),
    (f"mp_funnel(NULL, {R}, {STEPS}, length := 368)", "length", "at most 367 days"),
    (f"mp_funnel(NULL, {R}, {STEPS}, length := 8809, length_unit := 'hour')", "length", "at most 8808 hours"),
    (f"mp_funnel(NULL, {R}, {STEPS}, step_order := 'strict')", "step_order", "is not valid"),
    (f"mp_funnel(NULL, {R}, {STEPS}, by := 'properties[\"a\"][\"b\"]')", "by", "is not a property"),
    (f"mp_funnel(NULL, {R}, {STEPS}, by := 'plan')", "by", "bare name"),
    (f"mp_funnel(NULL, {R}, {STEPS}, filter := 'defined(properties[\"a\"]) or true')", "filter",
     "expected 'and'"),
    (f"mp_funnel(NULL, {R}, {STEPS}, exclude := [''])", "exclude", "contains an empty name"),
    (f"mp_funnel(7001, {R}, exclude := ['Logout'])", "exclude", "ad-hoc funnels only"),
    (f"mp_funnel(NULL, {R}, step_order := 'any', definition := '{{}}')", "step_order", "cannot be combined"),
    (f"mp_retention('Sign Up', {R}, buckets := [1, 3, 7])", "event", "buckets := needs one"),
    (f"mp_retention('Sign Up', {R}, event := 'Login', buckets := [])", "buckets", "1 to 730 bucket ends"),
    (f"mp_retention('Sign Up', {R}, event := 'Login', buckets := [3, 1])", "buckets", "strictly ascending"),
    (f"mp_retention('Sign Up', {R}, event := 'Login', buckets := [0, 1])", "buckets", "strictly ascending"),
    (f"mp_retention('Sign Up', {R}, event := 'Login', buckets := [1, 7], interval_count := 3)", "interval_count",
     "the buckets are the periods"),
    (f"mp_retention('Login', {R}, event := 'Login', buckets := [1], retention_type := 'compounded')",
     "retention_type", "birth retention only"),
    (f"mp_retention('Sign Up', {R}, event := 'Login', buckets := [1], filter := 'properties[\"a\"] in [1]')",
     "filter", "cannot be turned into"),
    (f"mp_retention(NULL, {R}, event := 'Login', definition := '{{}}')", "event", "cannot be combined"),
    (f"mp_retention('Sign Up', {R}, definition := '{{}}')", "born_event", "cannot be combined"),
    ("mp_flows(NULL)", "bookmark_id", "or NULL with event"),
    ("mp_flows(9201, event := 'Login')", "event", "does not apply to a saved report"),
    ("mp_flows(9201, forward := 2)", "forward", "does not apply to a saved report"),
    ("mp_flows(NULL, event := 'Login')", "from_date", "is required"),
    (f"{FLOW}, forward := 6)", "forward", "less than or equal to 5"),
    (f"{FLOW}, reverse := -1)", "reverse", "greater than or equal to 0"),
    (f"{FLOW}, forward := 0)", "forward", "both 0"),
    (f"{FLOW}, length := 367)", "length", "less than or equal to 366"),
    ("mp_flows(NULL, definition := '{}')", "definition", "has no steps"),
]


@pytest.mark.parametrize(("call", "argument", "says"), REFUSED, ids=[c[0][:70] for c in REFUSED])
def test_refused_before_any_request_naming_the_argument(con, emulator, call, argument, says):
    assert_refused_before_any_request(con, emulator, call, argument, says)
