-- name: patient :one
select id, pseudonym, display_name, language::text as language
from patient where id = $1 and clinic_id = $2

-- name: checkins :many
select id, questionnaire, questionnaire_version, answered_at, answers, scores
from checkin where patient_id = $1
order by answered_at, id
