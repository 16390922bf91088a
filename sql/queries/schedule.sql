-- name: plan_inputs :one
-- The patient's settings and clinic protocol, the patient row locked so that two plans of one
-- patient (a request and the planner) take turns.
select p.id, p.status::text as status, p.timezone, p.reminder_time, p.quiet_start, p.quiet_end,
       c.daily_window_minutes, c.post_infusion_days, c.weekly_weekday, c.weekly_window_minutes,
       c.nudge_after_minutes
from patient p join clinic c on c.id = p.clinic_id
where p.id = $1
for update of p

-- name: sessions_since :many
select id, scheduled_at, status = 'cancelled' as cancelled
from infusion_session
where patient_id = $1 and scheduled_at >= $2 and status <> 'cancelled'
order by scheduled_at

-- name: windows_from :many
select id, questionnaire, local_date, opens_at, closes_at, status::text as status, session_id
from checkin_due
where patient_id = $1 and local_date >= $2

-- name: delete_windows :exec
-- Windows not yet open carry no history; one a check-in was filed under stays.
delete from checkin_due d
where d.patient_id = $1 and d.id = any($2::uuid[]) and d.status = 'open'
  and not exists (select 1 from checkin k where k.due_id = d.id)

-- name: cancel_windows :exec
with cancelled as (
    update checkin_due set status = 'cancelled'
    where patient_id = $1 and id = any($2::uuid[]) and status = 'open'
    returning id
)
update reminder r set status = 'cancelled', final_reason = 'window_cancelled', next_attempt_at = null
from cancelled
where r.due_id = cancelled.id and r.patient_id = $1 and r.status in ('pending', 'sending')

-- name: reopen_windows :exec
-- Windows a plan cancelled and a later plan wants back (their reminders stay as they were).
update checkin_due set status = 'open'
where patient_id = $1 and id = any($2::uuid[]) and status = 'cancelled'

-- name: insert_windows :many
-- A window that a check-in already answered (one sent before the window existed) starts
-- completed.
insert into checkin_due (patient_id, questionnaire, local_date, opens_at, closes_at, session_id,
                         status, completed_at)
select $1, w.questionnaire, w.local_date, w.opens_at, w.closes_at, w.session_id,
       case when k.received_at is null then 'open'::due_status else 'completed'::due_status end,
       k.received_at
from unnest($2::text[], $3::date[], $4::timestamptz[], $5::timestamptz[], $6::uuid[])
    as w(questionnaire, local_date, opens_at, closes_at, session_id)
left join lateral (
    select received_at from checkin c
    where c.patient_id = $1 and c.questionnaire = w.questionnaire
      and c.answered_at >= w.opens_at and c.answered_at < w.closes_at
    order by c.answered_at limit 1
) k on true
on conflict on constraint checkin_due_one_per_day do nothing
returning id, questionnaire, local_date, opens_at, closes_at, status::text as status, session_id

-- name: upsert_reminders :exec
-- The planned reminders of open windows. A waiting one moves to its new time; one a plan
-- cancelled comes back if it is still ahead; one sent or settled otherwise is left alone.
insert into reminder (patient_id, due_id, kind, send_at, expires_at, next_attempt_at)
select $1, u.due_id, u.kind::reminder_kind, u.send_at, u.expires_at, u.send_at
from unnest($2::uuid[], $3::text[], $4::timestamptz[], $5::timestamptz[])
    as u(due_id, kind, send_at, expires_at)
on conflict (due_id, kind) where kind <> 'manual' do update
set send_at = excluded.send_at, next_attempt_at = excluded.send_at,
    expires_at = excluded.expires_at, status = 'pending', final_reason = null
where (reminder.status = 'pending'
       and (reminder.send_at, reminder.expires_at)
           is distinct from (excluded.send_at, excluded.expires_at))
   or (reminder.status = 'cancelled'
       and reminder.final_reason in ('rescheduled', 'window_cancelled')
       and excluded.send_at > $6)

-- name: cancel_unplanned_reminders :exec
-- Waiting reminders of these windows that the plan no longer has (quiet hours moved them
-- past the window's end).
update reminder r set status = 'cancelled', final_reason = 'rescheduled', next_attempt_at = null
where r.patient_id = $1 and r.due_id = any($2::uuid[]) and r.kind <> 'manual'
  and r.status = 'pending'
  and (r.due_id, r.kind::text) not in (
      select * from unnest($3::uuid[], $4::text[])
  )

-- name: set_planned_until :exec
update patient set planned_until = $2 where id = $1

-- name: stale_plans :many
select id from patient
where status = 'active' and (planned_until is null or planned_until < $1)
order by planned_until nulls first
limit $2

-- name: lock_if_stale :one
select id from patient
where id = $1 and status = 'active' and (planned_until is null or planned_until < $2)
for update skip locked

-- name: open_windows :many
select id, questionnaire, opens_at, closes_at
from checkin_due
where patient_id = $1 and status = 'open' and opens_at <= $2 and closes_at > $2
order by closes_at

-- name: next_opening :scalar
select min(opens_at) from checkin_due where patient_id = $1 and status = 'open' and opens_at > $2

-- name: mark_missed :scalar
-- Windows whose end has passed unanswered, a batch at a time; their waiting reminders expire.
with due as (
    select id from checkin_due
    where status = 'open' and closes_at <= $1
    order by closes_at
    limit $2
    for update skip locked
), missed as (
    update checkin_due d set status = 'missed' from due where d.id = due.id
    returning d.id, d.patient_id
), expired as (
    update reminder r set status = 'expired', final_reason = 'window_closed',
                          next_attempt_at = null
    from missed
    where r.due_id = missed.id and r.patient_id = missed.patient_id
      and r.status in ('pending', 'sending')
    returning r.id
)
select count(*) from missed

-- name: withdraw_reminders :exec
-- A discharged patient: reminders stop...
update reminder set status = 'cancelled', final_reason = 'discharged', next_attempt_at = null
where patient_id = $1 and status in ('pending', 'sending')

-- name: withdraw_windows :exec
-- ...open windows are cancelled and windows to come removed.
with cancelled as (
    update checkin_due set status = 'cancelled'
    where patient_id = $1 and status = 'open' and opens_at <= $2
)
delete from checkin_due d
where d.patient_id = $1 and d.status = 'open' and d.opens_at > $2
  and not exists (select 1 from checkin k where k.due_id = d.id)
