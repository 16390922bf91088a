-- name: oldest_due_reminder :scalar
-- When the reminder that has waited longest for a dispatcher became due, or null when none
-- is waiting. A reminder being sent counts again once its lease ran out (next_attempt_at is
-- its lease's end), so a dispatcher that died mid-batch shows as lag too.
select min(next_attempt_at) from reminder where next_attempt_at <= $1

-- name: open_alerts :many
select kind::text as kind, count(*)::int as open
from alert
where status = 'open'
group by kind
