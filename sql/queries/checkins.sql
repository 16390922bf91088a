-- name: insert :one
-- Store the check-in unless its id exists (then no row comes back), filed under the given window
-- or else the one open when it was answered. The scores get the outcome against the patient's
-- baseline (checkin_outcome); triggers complete the window and raise alerts.
insert into checkin (id, patient_id, due_id, questionnaire, questionnaire_version,
                     answered_at, received_at, answers, scores, note, content_hash, flags)
values ($1, $2,
        coalesce($3, (select d.id from checkin_due d
                      where d.patient_id = $2 and d.questionnaire = $4
                        and d.status in ('open', 'missed')
                        and d.opens_at <= $6 and d.closes_at > $6
                      order by d.opens_at limit 1)),
        $4, $5, $6, $11, $7, $8 || checkin_outcome($2, $13, $14, $6), $9, $10, $12)
on conflict (id) do nothing
returning due_id, scores

-- name: get_existing :one
select id, patient_id, due_id, questionnaire, questionnaire_version, answered_at,
       received_at, answers, scores, note, content_hash
from checkin where id = $1

-- name: history :many
select id, due_id, questionnaire, questionnaire_version, answered_at, received_at,
       answers, scores, note
from checkin
where patient_id = $1
  and ($2::timestamptz is null or (answered_at, id) < ($2, $3::uuid))
order by answered_at desc, id desc
limit $4
