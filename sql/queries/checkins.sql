-- name: insert :one
-- Store a check-in unless its id exists (then no row comes back), in one statement:
-- - filed under the given window, or else the one open when it was answered (the trigger
--   checkin_completes_window completes it);
-- - its outcome ($13 metric = $14 value) against the patient's baseline: the mean over the 14
--   days before the first infusion when there are check-ins then (three at least while those
--   days are still running), else the mean of the first three (this one counting if among
--   them), none before that; and the 3-day mean;
-- - flags: the answers' own ($12), pain at or above the clinic's threshold, a 3-day mean that
--   is worse; the trigger checkin_raises_alerts turns them into alerts.
-- Every history lookup is a short range of checkin_outcome_idx.
insert into checkin (id, patient_id, due_id, questionnaire, questionnaire_version,
                     answered_at, received_at, answers, scores, note, content_hash, flags,
                     outcome_metric, outcome_value)
select $1, $2, coalesce($3, w.id), $4, $5, $6, $11, $7, $8 || o.outcome, $9, $10,
       $12::text[]
       || case when ($8 ->> 'pain_now')::numeric >= c.pain_alert_threshold
               then '{pain_high}'::text[] else '{}'::text[] end
       || case when o.outcome -> 'outcome' ->> 'category_3d' = 'worsening'
               then '{worsening}'::text[] else '{}'::text[] end,
       $13, $14::numeric
from clinic c
left join lateral (
    select d.id from checkin_due d
    where d.patient_id = $2 and d.questionnaire = $4 and d.status in ('open', 'missed')
      and d.opens_at <= $6 and d.closes_at > $6
    order by d.opens_at limit 1
) w on true
left join lateral (
    select s.scheduled_at as at from infusion_session s
    where s.patient_id = $2 and s.status <> 'cancelled'
    order by s.scheduled_at limit 1
) first_infusion on true
cross join lateral (
    select avg(x) as mean, count(*) as n from (
        select k.outcome_value as x from checkin k
        where k.patient_id = $2 and k.outcome_metric = $13
          and k.answered_at >= first_infusion.at - interval '14 days'
          and k.answered_at < first_infusion.at
        union all
        select $14::numeric
        where $6 >= first_infusion.at - interval '14 days' and $6 < first_infusion.at
    ) values_before
) pre
cross join lateral (
    select avg(x) as mean, count(*) as n from (
        select x from (
            (select k.outcome_value as x, k.answered_at as at from checkin k
             where k.patient_id = $2 and k.outcome_metric = $13
             order by k.answered_at, k.id limit 3)
            union all
            select $14::numeric, $6
        ) candidates
        order by at limit 3
    ) oldest
) first_three
cross join lateral (
    select avg(x) as mean from (
        select k.outcome_value as x from checkin k
        where k.patient_id = $2 and k.outcome_metric = $13
          and k.answered_at > $6 - interval '72 hours' and k.answered_at <= $6
        union all
        select $14::numeric
    ) last_days
) recent
cross join lateral (
    -- While the two weeks before the first infusion are still filling, fewer than three of
    -- their check-ins are not yet a baseline (one value compared with itself says nothing).
    select pre.n > 0 and (pre.n >= 3 or $6 >= first_infusion.at) as settled
) use_pre
cross join lateral (
    select outcome_json(
        $13, $14::numeric,
        case when use_pre.settled then pre.mean
             when first_three.n >= 3 then first_three.mean end,
        case when use_pre.settled then pre.n else first_three.n end,
        case when use_pre.settled then 'before_first_infusion' else 'first_three' end,
        recent.mean
    ) as outcome
) o
where c.id = $15
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
