-- name: lock :exec
-- Serialises `checkin demo` runs (the key is arbitrary, shared by every process).
select pg_advisory_xact_lock(7263450118342002)

-- name: insert_session :exec
insert into infusion_session (id, patient_id, scheduled_at, status, created_at, updated_at)
values ($1, $2, $3, $4::infusion_status, $5, $6)

-- name: insert_window :exec
insert into checkin_due (id, patient_id, questionnaire, local_date, opens_at, closes_at,
                         status, completed_at, created_at)
values ($1, $2, $3, $4, $5, $6, $7::due_status, $8, $9)

-- name: backdate_patient :exec
update patient set status = 'active', created_at = $2 where id = $1

-- name: first_patient :scalar
select id from patient where clinic_id = $1
order by (status = 'invited') desc, created_at, id limit 1

-- name: patient_count :scalar
select count(*) from patient where clinic_id = $1

-- name: acknowledge_old_alerts :exec
-- The demo's coordinator has worked through earlier alerts at earlier rounds, so the board
-- shows what is new: alerts from check-ins answered more than three days ago, and missed-twice
-- alerts of patients who have answered since their last miss.
update alert a set status = 'acknowledged', acknowledged_at = $3, acknowledged_by = $2,
                   note = 'Reviewed at the weekly round (demo data).'
from patient p
where p.id = a.patient_id and p.clinic_id = $1 and a.status = 'open'
  and (
      (select k.answered_at from checkin k where k.id = a.checkin_id)
          < $3::timestamptz - interval '3 days'
      or a.kind = 'missed_twice' and exists (
          select 1 from checkin_due c
          where c.patient_id = a.patient_id and c.status = 'completed'
            and c.closes_at > (select max(m.closes_at) from checkin_due m
                               where m.patient_id = a.patient_id and m.status = 'missed'))
  )
