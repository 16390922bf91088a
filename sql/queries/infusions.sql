-- name: list :many
select id, scheduled_at, status::text as status, created_at, updated_at
from infusion_session
where patient_id = $1
order by scheduled_at

-- name: insert :one
insert into infusion_session (patient_id, scheduled_at, created_by, created_at, updated_at)
values ($1, $2, $3, $4, $4)
returning id, scheduled_at, status::text as status, created_at, updated_at

-- name: get_for_update :one
select id, scheduled_at, status::text as status, created_at, updated_at
from infusion_session
where id = $1 and patient_id = $2
for update

-- name: update :one
update infusion_session
set scheduled_at = $3, status = $4::infusion_status, updated_at = $5
where id = $1 and patient_id = $2
returning id, scheduled_at, status::text as status, created_at, updated_at

-- name: patient_status :scalar
select status::text from patient where id = $1 and clinic_id = $2

-- name: side_effects :many
-- The post-infusion check-ins after each of the patient's last 10 completed sessions (filed
-- under the windows that session opened).
select s.id as session_id, s.scheduled_at, k.answered_at, k.answers
from (
    select id, scheduled_at from infusion_session
    where patient_id = $1 and status = 'completed'
    order by scheduled_at desc limit 10
) s
left join checkin_due d on d.session_id = s.id and d.patient_id = $1
left join checkin k on k.due_id = d.id and k.patient_id = $1
order by s.scheduled_at desc, k.answered_at
