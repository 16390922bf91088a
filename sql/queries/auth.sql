-- name: device_principal :one
-- Resolve a device token; refresh last_seen_at at most hourly so reads stay cheap.
with d as (
    select d.id as device_id, d.patient_id, p.clinic_id, p.condition::text as condition,
           d.last_seen_at
    from device d
    join patient p on p.id = d.patient_id
    where d.token_hash = $1 and d.revoked_at is null and p.status <> 'discharged'
), touch as (
    update device set last_seen_at = $2
    from d
    where device.id = d.device_id and d.last_seen_at < $2::timestamptz - interval '1 hour'
)
select device_id, patient_id, clinic_id, condition from d

-- name: revoke_device :scalar
update device set revoked_at = $2
where id = $1 and revoked_at is null
returning patient_id

-- name: insert_device :scalar
insert into device (patient_id, token_hash, created_at, last_seen_at)
values ($1, $2, $3, $3)
returning id

-- name: coordinator_principal :one
with t as (
    select t.id as token_id, c.id as coordinator_id, c.clinic_id, c.role, t.last_used_at,
           c.email, c.display_name, cl.timezone as clinic_timezone
    from coordinator_token t
    join coordinator c on c.id = t.coordinator_id
    join clinic cl on cl.id = c.clinic_id
    where t.token_hash = $1 and t.revoked_at is null and c.disabled_at is null
), touch as (
    update coordinator_token set last_used_at = $2
    from t
    where coordinator_token.id = t.token_id
      and (t.last_used_at is null or t.last_used_at < $2::timestamptz - interval '1 minute')
)
-- An API token has no CSRF token: it cannot come from a browser's cookie.
select token_id, coordinator_id, clinic_id, role::text as role, null::text as csrf_token, email,
       display_name, clinic_timezone
from t

-- name: insert_coordinator_token :scalar
insert into coordinator_token (coordinator_id, token_hash, label)
values ($1, $2, $3)
returning id

-- name: coordinator_for_sign_in :one
select c.id, c.clinic_id, c.role::text as role, c.password_hash, c.failed_logins, c.locked_until
from coordinator c
where c.email = $1 and c.disabled_at is null

-- name: count_attempt :one
-- Count a sign-in attempt before its password is checked, unless the account is locked (then
-- no row): attempts sent together cannot all slip past the lock between a read and a write.
-- The attempt that makes $4 in a row locks the account for $3 seconds; a success resets it.
update coordinator
set failed_logins = failed_logins + 1,
    locked_until = case when failed_logins + 1 >= $4 then $2::timestamptz + make_interval(secs => $3)
                        else locked_until end
where id = $1 and (locked_until is null or locked_until <= $2)
returning failed_logins, locked_until

-- name: record_sign_in :exec
update coordinator set failed_logins = 0, locked_until = null, password_hash = coalesce($2, password_hash)
where id = $1

-- name: insert_session :scalar
insert into staff_session (id_hash, coordinator_id, csrf_token, created_at, last_seen_at, client_addr)
values ($1, $2, $3, $4, $4, $5::inet)
returning id

-- name: session_principal :one
-- A live session: not ended, used within the idle timeout ($3) and younger than the absolute
-- limit ($4). last_seen_at moves at most once a minute, so reads stay cheap.
with s as (
    select s.id as token_id, c.id as coordinator_id, c.clinic_id, c.role::text as role,
           s.csrf_token, c.email, c.display_name, cl.timezone as clinic_timezone, s.last_seen_at
    from staff_session s
    join coordinator c on c.id = s.coordinator_id
    join clinic cl on cl.id = c.clinic_id
    where s.id_hash = $1 and s.ended_at is null and c.disabled_at is null
      and s.last_seen_at > $2::timestamptz - make_interval(secs => $3)
      and s.created_at > $2::timestamptz - make_interval(secs => $4)
), touch as (
    update staff_session set last_seen_at = $2
    from s
    where staff_session.id = s.token_id and s.last_seen_at < $2::timestamptz - interval '1 minute'
)
select token_id, coordinator_id, clinic_id, role, csrf_token, email, display_name, clinic_timezone
from s

-- name: end_session :exec
update staff_session set ended_at = $2 where id_hash = $1 and ended_at is null

-- name: count_device_attempt :scalar
-- Count a sign-in attempt on a known browser of this account before its password is checked
-- (as count_attempt does for the account); null when the browser is not known to it, expired,
-- or has had $4 wrong passwords in a row.
update staff_device set failures = failures + 1
where token_hash = $1 and coordinator_id = $2 and expires_at > $3 and failures < $4
returning true

-- name: device_signed_in :exec
update staff_device set failures = 0 where token_hash = $1

-- name: add_device :exec
-- A browser that signed in: known to this account for $4 days. Its expired ones go.
with gone as (
    delete from staff_device where coordinator_id = $2 and expires_at <= $3
)
insert into staff_device (token_hash, coordinator_id, created_at, expires_at)
values ($1, $2, $3, $3 + make_interval(days => $4))
