-- Profiles joined to their events, with the property helpers.   Run:  mpsql --demo -f sql/examples/profiles.sql
CREATE TEMP TABLE users AS
    SELECT distinct_id, last_seen, mp_prop(properties, 'plan') AS plan, mp_prop(properties, '$city') AS city,
           mp_prop_num(properties, 'lifetime_value') AS ltv, mp_prop_time(properties, '$created') AS created
    FROM mp_profiles(properties := ['plan', '$city', 'lifetime_value', '$created', '$last_seen']);

SELECT plan, count(*) AS users, round(avg(ltv), 2) AS avg_ltv FROM users GROUP BY ALL ORDER BY users DESC;

-- Revenue in the last week per plan: events joined to profiles on distinct_id.
SELECT u.plan, count(*) AS purchases, round(sum(mp_prop_num(e.properties, 'amount')), 2) AS revenue
FROM mp_export(current_date - 7, current_date - 1, events := ['Purchase']) AS e
JOIN users AS u USING (distinct_id)
GROUP BY ALL ORDER BY revenue DESC;

-- Saved cohorts, and the members of one (the cohort's count and its members agree).
SELECT id, name, count FROM mp_cohorts() ORDER BY id;
SELECT count(*) AS pro_plan_members FROM mp_profiles(cohort := 1003, properties := ['plan']);
