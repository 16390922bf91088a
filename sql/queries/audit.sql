-- name: record :exec
-- client_addr: the address of the staff request that holds this connection (server/deps.py).
insert into audit_event (actor_kind, actor_id, clinic_id, patient_id, action, detail, at, client_addr)
values ($1, $2, $3, $4, $5, $6, $7, nullif(current_setting('checkin.client_addr', true), '')::inet)

-- name: set_client :scalar
select set_config('checkin.client_addr', $1, false)

-- name: search :many
-- The clinic's audit trail, newest first, optionally for one patient and/or one staff member.
select e.id, e.at, e.actor_kind::text as actor_kind, e.actor_id, c.email as actor_email,
       e.patient_id, p.display_name as patient_name, e.action, e.detail,
       host(e.client_addr) as client_addr
from audit_event e
left join coordinator c on c.id = e.actor_id
left join patient p on p.id = e.patient_id
where e.clinic_id = $1
  and ($2::uuid is null or e.patient_id = $2)
  and ($3::uuid is null or e.actor_id = $3)
  and ($4::bigint is null or e.id < $4)
order by e.id desc
limit $5

-- name: staff_of_clinic :many
select id, email from coordinator where clinic_id = $1 order by email
