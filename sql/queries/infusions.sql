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
