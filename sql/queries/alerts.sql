-- name: list_for_clinic :many
select a.id, a.patient_id, p.display_name, p.condition::text as condition, a.kind::text as kind,
       a.status::text as status, a.raised_at, a.checkin_id, a.acknowledged_at,
       a.acknowledged_by, a.note
from alert a
join patient p on p.id = a.patient_id
where p.clinic_id = $1 and ($2::text is null or a.status = $2::alert_status)
order by a.raised_at desc, a.id
limit $3

-- name: acknowledge :one
update alert a set status = 'acknowledged', acknowledged_at = $3, acknowledged_by = $4, note = $5
from patient p
where a.id = $1 and p.id = a.patient_id and p.clinic_id = $2 and a.status = 'open'
returning a.id, a.patient_id, p.display_name, p.condition::text as condition,
          a.kind::text as kind, a.status::text as status, a.raised_at, a.checkin_id,
          a.acknowledged_at, a.acknowledged_by, a.note

-- name: status_in_clinic :scalar
select a.status::text from alert a join patient p on p.id = a.patient_id
where a.id = $1 and p.clinic_id = $2
