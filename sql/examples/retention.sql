-- Weekly birth retention of new sign-ups: who came back to purchase, computed offline and checked against
-- Mixpanel's retention report.   Run:  mpsql --demo -f sql/examples/retention.sql
--
-- Birth means a user's first `born_event`: Sign Up happens once per user, so a recent export is enough.
-- (For an event users repeat, export from the project's first day.)
CREATE TEMP TABLE recent AS
    SELECT * FROM mp_export(current_date - 35, current_date - 1, events := ['Sign Up', 'Purchase']);

SELECT cohort_date, cohort_size, period AS days_after, count AS purchasers, round(100 * rate, 1) AS pct
FROM mp_local_retention('recent', 'Sign Up', current_date - 28, current_date - 8,
                        returning_event := 'Purchase', interval_count := 7)
WHERE cohort_date >= current_date - 10
ORDER BY cohort_date, days_after;

-- Live and local agree (expect 0).
SELECT count(*) AS differing_rows FROM (
    (SELECT * FROM mp_retention('Sign Up', current_date - 28, current_date - 8, event := 'Purchase',
                                interval_count := 7)
     EXCEPT
     SELECT * FROM mp_local_retention('recent', 'Sign Up', current_date - 28, current_date - 8,
                                      returning_event := 'Purchase', interval_count := 7))
    UNION ALL
    (SELECT * FROM mp_local_retention('recent', 'Sign Up', current_date - 28, current_date - 8,
                                      returning_event := 'Purchase', interval_count := 7)
     EXCEPT
     SELECT * FROM mp_retention('Sign Up', current_date - 28, current_date - 8, event := 'Purchase',
                                interval_count := 7))
);
