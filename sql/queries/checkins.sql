-- name: insert :one
-- One round trip: store the check-in (unless its id exists) and complete the window it answers.
-- Returns no row when the id exists; otherwise the window the check-in was filed under. The
-- UPDATE re-checks the window's status under its row lock, so of two concurrent answers to one
-- window exactly one completes it (both keep it as their due_id).
with ins as (
    insert into checkin (id, patient_id, due_id, questionnaire, questionnaire_version,
                         answered_at, received_at, answers, scores, note, content_hash)
    values ($1, $2,
            coalesce($3, (select d.id from checkin_due d
                          where d.patient_id = $2 and d.questionnaire = $4
                            and d.status in ('open', 'missed')
                            and d.opens_at <= $6 and d.closes_at > $6
                          order by d.opens_at limit 1)),
            $4, $5, $6, $11, $7, $8, $9, $10)
    on conflict (id) do nothing
    returning due_id, answered_at, received_at
), done as (
    update checkin_due d set status = 'completed', completed_at = ins.received_at
    from ins
    where d.id = ins.due_id and d.patient_id = $2
      and d.status in ('open', 'missed')
      and d.opens_at <= ins.answered_at and d.closes_at > ins.answered_at
    returning d.id
)
select ins.due_id, (select count(*) from done) as windows_completed from ins

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
