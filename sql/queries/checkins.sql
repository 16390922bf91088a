-- name: insert :one
-- One round trip: store the check-in (unless its id exists) and complete the window it answers.
with win as (
    select id from checkin_due
    where patient_id = $2
      and questionnaire = $4
      and status in ('open', 'missed')
      and opens_at <= $6 and closes_at > $6
      and ($3::uuid is null or id = $3)
    order by opens_at
    limit 1
    for update
), ins as (
    insert into checkin (id, patient_id, due_id, questionnaire, questionnaire_version,
                         answered_at, received_at, answers, scores, note, content_hash)
    values ($1, $2, coalesce($3, (select id from win)), $4, $5, $6, $11, $7, $8, $9, $10)
    on conflict (id) do nothing
    returning id, patient_id, due_id, questionnaire, questionnaire_version, answered_at,
              received_at, answers, scores, note
), done as (
    update checkin_due set status = 'completed', completed_at = ins.received_at
    from ins
    where checkin_due.id = ins.due_id and checkin_due.id in (select id from win)
    returning checkin_due.id
)
select ins.*, (select count(*) from done) as windows_completed from ins

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
