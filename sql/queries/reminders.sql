-- name: vapid_key :scalar
select private_pem from vapid_key where id = 1

-- name: insert_vapid_key :exec
insert into vapid_key (id, private_pem, public_key) values (1, $1, $2)
on conflict (id) do nothing

-- name: claim :many
-- Due reminders for this process, leased until $3; a lease that ran out (its process died
-- mid-send) makes the reminder due again. With each: what decides whether it still goes.
with ready as (
    select id from reminder
    where next_attempt_at <= $1
    order by next_attempt_at
    limit $2
    for update skip locked
)
update reminder r
set status = 'sending', attempts = r.attempts + 1, next_attempt_at = $3, leased_by = $4
from ready, patient p
where r.id = ready.id and p.id = r.patient_id
returning r.id, r.patient_id, r.due_id, r.kind::text as kind, r.expires_at, r.attempts,
          p.status::text as patient_status, p.reminders_paused_until,
          p.language::text as language, p.timezone, p.quiet_start, p.quiet_end,
          (select d.status::text from checkin_due d where d.id = r.due_id) as window_status

-- name: subscriptions_of :many
select id, patient_id, endpoint, p256dh, auth
from push_subscription
where patient_id = any($1::uuid[])

-- name: finish :exec
-- Settle or reschedule what this process claimed, unless its lease was lost meanwhile (the
-- reminder was claimed again elsewhere, or cancelled by a check-in).
update reminder r
set status = u.status::reminder_status, next_attempt_at = u.next_attempt_at,
    sent_at = u.sent_at, final_reason = u.reason, leased_by = null
from unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[])
    as u(id, status, next_attempt_at, sent_at, reason)
where r.id = u.id and r.status = 'sending' and r.leased_by = $6

-- name: record_attempts :exec
insert into push_attempt (reminder_id, subscription_id, at, status_code, error, duration_ms)
select * from unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::int[], $5::text[], $6::int[])

-- name: drop_subscriptions :exec
-- Only if still at the endpoint that answered "gone" (a browser may have renewed it since).
delete from push_subscription s
using unnest($1::uuid[], $2::text[]) as g(id, endpoint)
where s.id = g.id and s.endpoint = g.endpoint

-- name: subscriptions_worked :exec
update push_subscription set last_success_at = $2 where id = any($1::uuid[])

-- name: next_attempt :scalar
select min(next_attempt_at) from reminder where next_attempt_at is not null

-- name: save_subscription :scalar
-- One subscription per device; an endpoint that moved to this device (the same browser,
-- enrolled again) leaves its old one.
with moved as (
    delete from push_subscription where endpoint = $3 and device_id <> $2
)
insert into push_subscription (patient_id, device_id, endpoint, p256dh, auth, created_at, updated_at)
values ($1, $2, $3, $4, $5, $6, $6)
on conflict (device_id) do update
set endpoint = excluded.endpoint, p256dh = excluded.p256dh, auth = excluded.auth,
    updated_at = excluded.updated_at, patient_id = excluded.patient_id
returning id

-- name: delete_subscription :exec
delete from push_subscription where device_id = $1

-- name: opened :scalar
-- A notification can be tapped before its batch is settled, or after a check-in settled the
-- reminder otherwise: what counts is that a push service accepted it.
update reminder r set opened_at = coalesce(r.opened_at, $3)
where r.id = $1 and r.patient_id = $2
  and (r.status = 'sent'
       or exists (select 1 from push_attempt a
                  where a.reminder_id = r.id and a.status_code between 200 and 299)
       or r.status = 'sending')
returning r.id

-- name: nudge_target :one
select p.status::text as status, p.reminders_paused_until, p.timezone, p.quiet_start, p.quiet_end,
       (select d.id from checkin_due d
         where d.patient_id = p.id and d.status = 'open' and d.opens_at <= $2 and d.closes_at > $2
         order by d.closes_at limit 1) as due_id,
       (select d.closes_at from checkin_due d
         where d.patient_id = p.id and d.status = 'open' and d.opens_at <= $2 and d.closes_at > $2
         order by d.closes_at limit 1) as closes_at,
       exists (select 1 from push_subscription s where s.patient_id = p.id) as subscribed
from patient p
where p.id = $1 and p.clinic_id = $3

-- name: insert_manual :one
insert into reminder (patient_id, due_id, kind, send_at, expires_at, next_attempt_at, created_by)
values ($1, $2, 'manual', $3, $4, $3, $5)
on conflict (patient_id) where kind = 'manual' and status in ('pending', 'sending') do nothing
returning id, kind::text as kind, status::text as status, send_at, expires_at, sent_at, opened_at,
          attempts, final_reason, null::integer as last_status_code

-- name: windows_for_patient :many
select d.id, d.questionnaire, d.local_date, d.opens_at, d.closes_at, d.status::text as status,
       d.completed_at, d.session_id
from checkin_due d
where d.patient_id = $1 and d.opens_at <= $2
  and ($3::timestamptz is null or (d.opens_at, d.id) < ($3, $4::uuid))
order by d.opens_at desc, d.id desc
limit $5

-- name: reminders_for_windows :many
select r.id, r.due_id, r.kind::text as kind, r.status::text as status, r.send_at, r.expires_at,
       r.sent_at, r.opened_at, r.attempts, r.final_reason,
       (select a.status_code from push_attempt a where a.reminder_id = r.id
         order by a.at desc, a.id desc limit 1) as last_status_code
from reminder r
where r.patient_id = $1 and (r.due_id = any($2::uuid[]) or (r.due_id is null and r.send_at >= $3))
order by r.send_at
