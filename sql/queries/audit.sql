-- name: record :exec
insert into audit_event (actor_kind, actor_id, clinic_id, patient_id, action, detail, at)
values ($1, $2, $3, $4, $5, $6, $7)
