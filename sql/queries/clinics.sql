-- name: insert :one
insert into clinic (name, timezone) values ($1, $2)
returning id, name, timezone, daily_window_minutes, created_at

-- name: get :one
select id, name, timezone, daily_window_minutes, created_at from clinic where id = $1

-- name: count :scalar
select count(*) from clinic

-- name: insert_coordinator :one
insert into coordinator (clinic_id, email, display_name, role, password_hash)
values ($1, $2, $3, $4, $5)
returning id, clinic_id, email, display_name, role::text as role, created_at

-- name: coordinator_by_email :one
select id, clinic_id, email, display_name, role::text as role, created_at
from coordinator where email = $1 and disabled_at is null

-- name: set_password :exec
update coordinator set password_hash = $2 where id = $1
