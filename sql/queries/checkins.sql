-- name: insert :many
-- Store check-ins, each unless its id exists (then no row comes back for it), in one statement.
-- The server sends the check-ins that arrive together as one batch (server/checkins/writer.py):
-- $1..$15 are arrays, one element per check-in, in the column order below. For each:
-- - filed under the given window, or else the one open when it was answered (the trigger
--   checkin_completes_window completes it);
-- - its outcome (metric = value) against the patient's baseline: the mean over the 14
--   days before the first infusion when there are check-ins then (three at least while those
--   days are still running), else the mean of the first three (this one counting if among
--   them), none before that; and the 3-day mean;
-- - flags: the answers' own, pain at or above the clinic's threshold, a 3-day mean that
--   is worse; the trigger checkin_raises_alerts turns them into alerts.
-- Every history lookup is a short range of checkin_outcome_idx. Two check-ins of one patient
-- in a batch do not see each other, as two concurrent transactions would not.
with batch as (
    select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::int[],
                         $6::timestamptz[], $7::jsonb[], $8::jsonb[], $9::text[], $10::bytea[],
                         $11::timestamptz[], $12::text[], $13::text[], $14::numeric[], $15::uuid[])
        as b(id, patient_id, due_id, questionnaire, version, answered_at, answers, scores,
             note, content_hash, received_at, flags, metric, value, clinic_id)
)
insert into checkin (id, patient_id, due_id, questionnaire, questionnaire_version,
                     answered_at, received_at, answers, scores, note, content_hash, flags,
                     outcome_metric, outcome_value)
select b.id, b.patient_id, coalesce(b.due_id, w.id), b.questionnaire, b.version, b.answered_at,
       b.received_at, b.answers, b.scores || o.outcome, b.note, b.content_hash,
       b.flags::text[]
       || case when (b.scores ->> 'pain_now')::numeric >= c.pain_alert_threshold
               then '{pain_high}'::text[] else '{}'::text[] end
       || case when o.outcome -> 'outcome' ->> 'category_3d' = 'worsening'
               then '{worsening}'::text[] else '{}'::text[] end,
       b.metric, b.value
from batch b
join clinic c on c.id = b.clinic_id
left join lateral (
    select d.id from checkin_due d
    where d.patient_id = b.patient_id and d.questionnaire = b.questionnaire
      and d.status in ('open', 'missed')
      and d.opens_at <= b.answered_at and d.closes_at > b.answered_at
    order by d.opens_at limit 1
) w on true
left join lateral (
    select s.scheduled_at as at from infusion_session s
    where s.patient_id = b.patient_id and s.status <> 'cancelled'
    order by s.scheduled_at limit 1
) first_infusion on true
cross join lateral (
    select avg(x) as mean, count(*) as n from (
        select k.outcome_value as x from checkin k
        where k.patient_id = b.patient_id and k.outcome_metric = b.metric
          and k.answered_at >= first_infusion.at - interval '14 days'
          and k.answered_at < first_infusion.at
        union all
        select b.value
        where b.answered_at >= first_infusion.at - interval '14 days'
          and b.answered_at < first_infusion.at
    ) values_before
) pre
cross join lateral (
    select avg(x) as mean, count(*) as n from (
        select x from (
            (select k.outcome_value as x, k.answered_at as at from checkin k
             where k.patient_id = b.patient_id and k.outcome_metric = b.metric
             order by k.answered_at, k.id limit 3)
            union all
            select b.value, b.answered_at
        ) candidates
        order by at limit 3
    ) oldest
) first_three
cross join lateral (
    select avg(x) as mean from (
        select k.outcome_value as x from checkin k
        where k.patient_id = b.patient_id and k.outcome_metric = b.metric
          and k.answered_at > b.answered_at - interval '72 hours'
          and k.answered_at <= b.answered_at
        union all
        select b.value
    ) last_days
) recent
cross join lateral (
    -- While the two weeks before the first infusion are still filling, fewer than three of
    -- their check-ins are not yet a baseline (one value compared with itself says nothing).
    select pre.n > 0 and (pre.n >= 3 or b.answered_at >= first_infusion.at) as settled
) use_pre
cross join lateral (
    select outcome_json(
        b.metric, b.value,
        case when use_pre.settled then pre.mean
             when first_three.n >= 3 then first_three.mean end,
        case when use_pre.settled then pre.n else first_three.n end,
        case when use_pre.settled then 'before_first_infusion' else 'first_three' end,
        recent.mean
    ) as outcome
) o
on conflict (id) do nothing
returning id, due_id, scores

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

-- name: trend_days :many
-- One row per local day (the patient's time zone) since $2 with check-ins: the day's mean pain
-- now, fatigue and PEG-3 (a day may hold a daily and a post-infusion check-in). Reads the
-- patient's check-ins through checkin_patient_answered_idx.
select (k.answered_at at time zone p.timezone)::date as date,
       round(avg((k.scores ->> 'pain_now')::numeric), 1)::float8 as pain,
       round(avg((k.scores ->> 'fatigue')::numeric), 1)::float8 as fatigue,
       round(avg((k.scores ->> 'peg3')::numeric), 1)::float8 as peg
from patient p
join checkin k on k.patient_id = p.id
where p.id = $1 and k.answered_at >= $2 and k.answered_at <= $3
group by 1
having count(k.scores -> 'pain_now') + count(k.scores -> 'fatigue') + count(k.scores -> 'peg3') > 0
order by 1

-- name: trend_infusions :many
select s.scheduled_at as at, (s.scheduled_at at time zone p.timezone)::date as date,
       s.status::text as status
from patient p
join infusion_session s on s.patient_id = p.id
where p.id = $1 and s.scheduled_at >= $2 and s.scheduled_at <= $3 and s.status <> 'cancelled'
order by s.scheduled_at

-- name: latest_outcome :one
-- The newest pain outcome compared with a baseline (the daily check-in's, see insert above).
select k.answered_at, k.scores -> 'outcome' as outcome
from checkin k
where k.patient_id = $1 and k.outcome_metric = 'pain_now'
  and k.scores -> 'outcome' ->> 'baseline' is not null
order by k.answered_at desc
limit 1
