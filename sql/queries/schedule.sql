-- name: ensure_windows :exec
-- Create the given windows unless the day has one; a window already answered starts completed.
insert into checkin_due (patient_id, questionnaire, local_date, opens_at, closes_at, status, completed_at)
select $1, $2, w.local_date, w.opens_at, w.closes_at,
       case when k.received_at is null then 'open'::due_status else 'completed'::due_status end,
       k.received_at
from unnest($3::date[], $4::timestamptz[], $5::timestamptz[]) as w(local_date, opens_at, closes_at)
left join lateral (
    select received_at from checkin c
    where c.patient_id = $1 and c.questionnaire = $2
      and c.answered_at >= w.opens_at and c.answered_at < w.closes_at
    order by c.answered_at limit 1
) k on true
on conflict on constraint checkin_due_one_per_day do nothing

-- name: open_windows :many
select id, questionnaire, opens_at, closes_at
from checkin_due
where patient_id = $1 and status = 'open' and opens_at <= $2 and closes_at > $2
order by closes_at

-- name: drop_unopened_windows :exec
delete from checkin_due where patient_id = $1 and status = 'open' and opens_at > $2
