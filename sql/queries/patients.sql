-- name: insert :scalar
insert into patient (clinic_id, display_name, timezone, condition, language, reminder_time)
values ($1, $2, $3, $4::patient_condition, $5::patient_language, $6)
returning id

-- name: insert_code :exec
insert into enrollment_code (patient_id, code_hash, created_by, created_at, expires_at)
values ($1, $2, $3, $4, $5)

-- name: revoke_codes :exec
update enrollment_code set revoked_at = $2
where patient_id = $1 and used_at is null and revoked_at is null and expires_at > $2

-- name: redeem_code :scalar
-- Single use: the first caller to flip used_at wins; later ones find nothing.
update enrollment_code e set used_at = $2
from patient p
where e.code_hash = $1 and e.used_at is null and e.revoked_at is null and e.expires_at > $2
  and p.id = e.patient_id and p.status <> 'discharged'
returning e.patient_id

-- name: activate :exec
update patient set status = 'active' where id = $1 and status = 'invited'

-- name: profile :one
select p.id as patient_id, p.display_name, c.name as clinic_name, p.timezone,
       to_char(p.reminder_time, 'HH24:MI') as reminder_time,
       to_char(p.quiet_start, 'HH24:MI') as quiet_start,
       to_char(p.quiet_end, 'HH24:MI') as quiet_end,
       p.language::text as language, p.reminders_paused_until,
       (select min(s.scheduled_at) from infusion_session s
         where s.patient_id = p.id and s.status = 'scheduled' and s.scheduled_at > $2) as next_infusion
from patient p
join clinic c on c.id = p.clinic_id
where p.id = $1

-- name: update_profile :exec
update patient set
    timezone = coalesce($2, timezone),
    reminder_time = coalesce($3, reminder_time),
    quiet_start = case when $4::boolean then $5::time else quiet_start end,
    quiet_end = case when $4::boolean then $6::time else quiet_end end,
    language = coalesce($7::patient_language, language),
    reminders_paused_until = case when $8::boolean then $9::timestamptz else reminders_paused_until end
where id = $1

-- name: schedule_settings :one
select p.id, p.language::text as language, p.condition::text as condition, p.planned_until, p.timezone
from patient p
where p.id = $1

-- name: list_for_clinic :many
select p.id as patient_id, p.display_name, p.condition::text as condition, p.status::text as status,
       p.timezone, p.created_at,
       (select max(k.answered_at) from checkin k where k.patient_id = p.id) as last_checkin_at
from patient p
where p.clinic_id = $1
  and ($2::timestamptz is null or (p.created_at, p.id) < ($2, $3::uuid))
order by p.created_at desc, p.id desc
limit $4

-- name: detail_for_clinic :one
select p.id as patient_id, p.display_name, p.condition::text as condition, p.status::text as status,
       p.timezone, to_char(p.reminder_time, 'HH24:MI') as reminder_time,
       p.language::text as language, p.created_at, p.reminders_paused_until,
       to_char(p.quiet_start, 'HH24:MI') as quiet_start, to_char(p.quiet_end, 'HH24:MI') as quiet_end,
       (select count(*) from checkin_due d where d.patient_id = p.id
         and d.status = 'completed' and d.closes_at > $3::timestamptz - interval '30 days' and d.closes_at <= $3) as windows_completed_30d,
       (select count(*) from checkin_due d where d.patient_id = p.id
         and d.status = 'missed' and d.closes_at > $3::timestamptz - interval '30 days' and d.closes_at <= $3) as windows_missed_30d,
       (select max(s.scheduled_at) from infusion_session s
         where s.patient_id = p.id and s.status = 'completed') as last_infusion,
       (select min(s.scheduled_at) from infusion_session s
         where s.patient_id = p.id and s.status = 'scheduled' and s.scheduled_at > $3) as next_infusion
from patient p
where p.id = $1 and p.clinic_id = $2

-- name: exists_in_clinic :scalar
select exists (select 1 from patient where id = $1 and clinic_id = $2)

-- name: discharge :scalar
update patient set status = 'discharged'
where id = $1 and clinic_id = $2 and status <> 'discharged'
returning id
