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

-- name: protocol :one
select daily_window_minutes, nudge_after_minutes, post_infusion_days, weekly_weekday,
       weekly_window_minutes
from clinic where id = $1

-- name: update_protocol :one
update clinic set
    daily_window_minutes = coalesce($2, daily_window_minutes),
    nudge_after_minutes = coalesce($3, nudge_after_minutes),
    post_infusion_days = coalesce($4, post_infusion_days),
    weekly_weekday = coalesce($5, weekly_weekday),
    weekly_window_minutes = coalesce($6, weekly_window_minutes)
where id = $1
returning daily_window_minutes, nudge_after_minutes, post_infusion_days, weekly_weekday,
          weekly_window_minutes

-- name: plans_stale :scalar
-- The clinic's plans are redone by the dispatchers' planner (each plan in its own transaction).
with stale as (
    update patient set planned_until = null
    where clinic_id = $1 and status = 'active'
    returning 1
)
select count(*) from stale

-- name: wake_planner :exec
select pg_notify('checkin_reminders', 'replan')

-- name: staff :many
-- The clinic's coordinators with their latest sign-in.
select c.id, c.email, c.display_name, c.role::text as role, c.created_at, c.disabled_at,
       (select max(s.created_at) from staff_session s where s.coordinator_id = c.id) as last_sign_in
from coordinator c
where c.clinic_id = $1
order by c.disabled_at is not null, c.email

-- name: set_disabled :scalar
-- Disabling takes effect at once: sessions and API tokens are checked against disabled_at.
update coordinator set disabled_at = case when $3::boolean then coalesce(disabled_at, $4) end
where id = $1 and clinic_id = $2
returning id

-- name: set_role :scalar
update coordinator set role = $3::staff_role
where id = $1 and clinic_id = $2
returning id

-- name: forget_devices :exec
-- A new password, or a disabled account: no browser is known to it any more.
delete from staff_device where coordinator_id = $1

-- name: end_sessions :exec
update staff_session set ended_at = $2 where coordinator_id = $1 and ended_at is null
