-- Property helpers: read one Mixpanel property out of a JSON `properties` column by its exact name.
--
-- Mixpanel's default properties start with `$` ($browser, $city, $email), which DuckDB's JSONPath syntax
-- makes awkward (properties->>'$."$browser"'). These macros take the name as written in Mixpanel and address it
-- with a JSON Pointer, so any name works: `$browser`, `a.b` (a dot is part of the name, not a path), `a/b`.
-- Missing properties and values of another type give NULL, never an error.
--
--   SELECT mp_prop(properties, '$browser') AS browser, count(*)
--   FROM mp_export(DATE '2024-01-01', DATE '2024-01-31') GROUP BY ALL;
--
--   SELECT sum(mp_prop_num(properties, 'amount')) FROM events WHERE event = 'Purchase';
--   SELECT * FROM events WHERE mp_prop_bool(properties, 'in_stock');
--   SELECT mp_prop_time(properties, '$created') FROM mp_profiles();
--   SELECT unnest(mp_prop_list(properties, 'tags')) AS tag, count(*) FROM events GROUP BY ALL;
--   SELECT mp_prop_json(properties, 'cart')->>'$.currency' FROM events;   -- nested objects stay JSON

-- The JSON Pointer (RFC 6901) of a top-level key: '~' and '/' are escaped, everything else is literal.
-- example: SELECT mp_json_pointer('a/b~c')
CREATE OR REPLACE TEMP MACRO mp_json_pointer(name) AS
    '/' || replace(replace(name, '~', '~0'), '/', '~1');

-- Text (numbers and booleans as their JSON text; objects and lists as JSON text).
-- example: SELECT mp_prop(properties, '$browser') AS browser, count(*) FROM events GROUP BY ALL
CREATE OR REPLACE TEMP MACRO mp_prop(props, name) AS
    json_extract_string(props, mp_json_pointer(name));

-- The raw JSON value, for nested objects and lists.
-- example: SELECT mp_prop_json(properties, 'cart')->>'$.currency' FROM events
CREATE OR REPLACE TEMP MACRO mp_prop_json(props, name) AS
    json_extract(props, mp_json_pointer(name));

-- A number (DOUBLE); numeric text such as "12.5" counts, anything else is NULL.
-- example: SELECT sum(mp_prop_num(properties, 'amount')) FROM events WHERE event = 'Purchase'
CREATE OR REPLACE TEMP MACRO mp_prop_num(props, name) AS
    TRY_CAST(json_extract_string(props, mp_json_pointer(name)) AS DOUBLE);

-- A whole number (BIGINT); 3.0 counts, 3.5 is NULL.
-- example: SELECT mp_prop_int(properties, 'quantity') FROM events
CREATE OR REPLACE TEMP MACRO mp_prop_int(props, name) AS
    CASE WHEN TRY_CAST(json_extract_string(props, mp_json_pointer(name)) AS DOUBLE)
              = TRY_CAST(TRY_CAST(json_extract_string(props, mp_json_pointer(name)) AS DOUBLE) AS BIGINT)
         THEN TRY_CAST(TRY_CAST(json_extract_string(props, mp_json_pointer(name)) AS DOUBLE) AS BIGINT) END;

-- A boolean: JSON true/false, or the text "true"/"false"/"1"/"0" that some SDKs send.
-- example: SELECT count(*) FROM events WHERE mp_prop_bool(properties, 'in_stock')
CREATE OR REPLACE TEMP MACRO mp_prop_bool(props, name) AS
    TRY_CAST(json_extract_string(props, mp_json_pointer(name)) AS BOOLEAN);

-- A timestamp: Mixpanel's ISO text ("2024-01-05T11:20:47", project time) or epoch seconds / milliseconds.
-- Text that carries a zone ("...Z", "...+02:00") is read in UTC, as epoch times are.
-- example: SELECT mp_prop_time(properties, '$created') FROM events
CREATE OR REPLACE TEMP MACRO mp_prop_time(props, name) AS
    CASE json_type(props, mp_json_pointer(name))
        WHEN 'VARCHAR' THEN mp__iso_time(json_extract_string(props, mp_json_pointer(name)))
        WHEN 'BIGINT' THEN mp__epoch(CAST(json_extract(props, mp_json_pointer(name)) AS DOUBLE))
        WHEN 'UBIGINT' THEN mp__epoch(CAST(json_extract(props, mp_json_pointer(name)) AS DOUBLE))
        WHEN 'DOUBLE' THEN mp__epoch(CAST(json_extract(props, mp_json_pointer(name)) AS DOUBLE))
    END;

-- ISO text as a TIMESTAMP: wall-clock time as written, or UTC when the text ends in a zone offset.
CREATE OR REPLACE TEMP MACRO mp__iso_time(text) AS
    CASE WHEN regexp_matches(text, '\d:\d\d(:\d\d(\.\d+)?)?\s*([Zz]|[+-]\d\d(:?\d\d)?)$')
         THEN TRY_CAST(text AS TIMESTAMPTZ) AT TIME ZONE 'UTC'
         ELSE TRY_CAST(text AS TIMESTAMP) END;

-- Epoch seconds, or milliseconds when too large to be seconds (after year 5138), as a TIMESTAMP.
CREATE OR REPLACE TEMP MACRO mp__epoch(x) AS
    make_timestamp(CAST(CASE WHEN abs(x) < 1e11 THEN x * 1e6 ELSE x * 1e3 END AS BIGINT));

-- A list as VARCHAR[] (elements as text); NULL when the property is not a list.
-- example: SELECT tag, count(*) FROM events, unnest(mp_prop_list(properties, 'tags')) AS t(tag) GROUP BY ALL
CREATE OR REPLACE TEMP MACRO mp_prop_list(props, name) AS
    CASE WHEN json_type(props, mp_json_pointer(name)) = 'ARRAY'
         THEN json_extract_string(json_extract(props, mp_json_pointer(name)), '$[*]') END;
