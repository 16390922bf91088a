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

-- name: revoke_device :one
update device set revoked_at = $2
where id = $1 and revoked_at is null
returning patient_id

-- name: insert_device :one
insert into device (patient_id, token_hash, created_at, last_seen_at)
values ($1, $2, $3, $3)
returning id

-- name: coordinator_principal :one
with t as (
    select t.id as token_id, c.id as coordinator_id, c.clinic_id, c.role, t.last_used_at
    from coordinator_token t
    join coordinator c on c.id = t.coordinator_id
    where t.token_hash = $1 and t.revoked_at is null and c.disabled_at is null
), touch as (
    update coordinator_token set last_used_at = $2
    from t
    where coordinator_token.id = t.token_id
      and (t.last_used_at is null or t.last_used_at < $2::timestamptz - interval '1 minute')
)
select token_id, coordinator_id, clinic_id, role::text as role from t

-- name: insert_coordinator_token :one
insert into coordinator_token (coordinator_id, token_hash, label)
values ($1, $2, $3)
returning id
