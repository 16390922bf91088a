-- name: board :many
-- The clinic's board ($1 clinic, $2 now, at most $3 rows): active patients with an open alert,
-- missed check-ins since their last answered one, or a check-in open for longer than the
-- clinic's nudge delay. Open alerts first, then the most misses in a row, then the longest
-- silence. Only the rows shown get the rest of their row: infusions, last scores, adherence
-- since the last infusion, the newest reminder's delivery. `total` counts every candidate.
with candidates as (
    select p.id, p.display_name, p.condition::text as condition, p.created_at,
           a.open_alerts, a.alert_kinds, a.first_alert_id, m.misses, o.overdue_since
    from patient p
    join clinic c on c.id = p.clinic_id
    cross join lateral (
        select count(*) as open_alerts, array_agg(al.kind::text order by al.raised_at) as alert_kinds,
               (array_agg(al.id order by al.raised_at))[1] as first_alert_id
        from alert al where al.patient_id = p.id and al.status = 'open'
    ) a
    cross join lateral (
        select count(*) as misses from checkin_due d
        where d.patient_id = p.id and d.status = 'missed' and d.closes_at <= $2
          and d.closes_at > coalesce(
              -- The last answered window, one still open included (answered today clears
              -- the misses before it). Windows last at most 7 days: the bound keeps the
              -- backward index scan off the weeks planned ahead.
              (select max(k.closes_at) from checkin_due k
               where k.patient_id = p.id and k.status = 'completed'
                 and k.closes_at <= $2::timestamptz + interval '8 days'),
              '-infinity')
    ) m
    cross join lateral (
        select min(d.opens_at) as overdue_since from checkin_due d
        where d.patient_id = p.id and d.status = 'open' and d.closes_at > $2
          and d.opens_at <= $2::timestamptz - make_interval(mins => c.nudge_after_minutes)
    ) o
    where p.clinic_id = $1 and p.status = 'active'
      and (a.open_alerts > 0 or m.misses > 0 or o.overdue_since is not null)
), shown as (
    select k.*, last.answered_at as last_checkin_at, last.pain, last.fatigue, last.trend
    from candidates k
    left join lateral (
        select x.answered_at, (x.scores ->> 'pain_now')::numeric as pain,
               (x.scores ->> 'fatigue')::numeric as fatigue,
               x.scores -> 'outcome' ->> 'category_3d' as trend
        from checkin x where x.patient_id = k.id
        order by x.answered_at desc, x.id desc limit 1
    ) last on true
    order by k.open_alerts > 0 desc, k.misses desc, last.answered_at asc nulls first,
             k.display_name, k.id
    limit $3
)
select k.id as patient_id, k.display_name, k.condition, k.open_alerts, k.alert_kinds,
       k.first_alert_id, k.misses, k.overdue_since, k.last_checkin_at, k.pain, k.fatigue, k.trend,
       inf.last_infusion, inf.next_infusion, adh.completed, adh.missed,
       r.status as reminder_status, r.opened_at as reminder_opened_at,
       exists (select 1 from push_subscription s where s.patient_id = k.id) as has_push,
       (select count(*) from candidates) as total
from shown k
cross join lateral (
    select (select max(s.scheduled_at) from infusion_session s
            where s.patient_id = k.id and s.status = 'completed' and s.scheduled_at <= $2) as last_infusion,
           (select min(s.scheduled_at) from infusion_session s
            where s.patient_id = k.id and s.status = 'scheduled' and s.scheduled_at > $2) as next_infusion
) inf
cross join lateral (
    select count(*) filter (where d.status = 'completed') as completed,
           count(*) filter (where d.status = 'missed') as missed
    from checkin_due d
    where d.patient_id = k.id and d.closes_at <= $2
      and d.closes_at > coalesce(inf.last_infusion, k.created_at)
) adh
left join lateral (
    select rm.status::text as status, rm.opened_at from reminder rm
    where rm.patient_id = k.id order by rm.send_at desc limit 1
) r on true
order by k.open_alerts > 0 desc, k.misses desc, k.last_checkin_at asc nulls first,
         k.display_name, k.id

-- name: patients_page :many
-- The clinic's patients with their last check-in, open alerts and 30-day adherence, filtered
-- ($2 name contains, escaped; $3 condition; $4 status; $5 adherence below this per cent;
-- $6 only with an open alert), sorted by $7, one page ($8 rows from $9). `total` counts all
-- that match.
with base as (
    select p.id as patient_id, p.display_name, p.condition::text as condition,
           p.status::text as status, p.created_at,
           (select max(k.answered_at) from checkin k where k.patient_id = p.id) as last_checkin_at,
           (select count(*) from alert a where a.patient_id = p.id and a.status = 'open') as open_alerts,
           adh.completed, adh.missed
    from patient p
    cross join lateral (
        select count(*) filter (where d.status = 'completed') as completed,
               count(*) filter (where d.status = 'missed') as missed
        from checkin_due d
        where d.patient_id = p.id and d.closes_at > $10::timestamptz - interval '30 days'
          and d.closes_at <= $10
    ) adh
    where p.clinic_id = $1
      and ($2::text is null or p.display_name ilike '%' || $2 || '%')
      and ($3::text is null or p.condition::text = $3)
      and ($4::text is null or p.status::text = $4)
)
select b.*, count(*) over () as total
from base b
where ($5::int is null or (b.completed + b.missed > 0 and b.completed * 100 < $5 * (b.completed + b.missed)))
  and (not $6::bool or b.open_alerts > 0)
order by
    case when $7 = 'name' then b.display_name end,
    case when $7 = 'last_checkin' then b.last_checkin_at end asc nulls first,
    case when $7 = 'adherence' then b.completed::float / nullif(b.completed + b.missed, 0) end asc nulls last,
    case when $7 = 'alerts' then b.open_alerts end desc,
    b.display_name, b.patient_id
limit $8 offset $9

-- name: watch :exec
-- Boards of these clinics ($1) are open in this process: notify their changes for the next
-- $2 seconds. A lease kept and read by the database alone (board_changed_notify), so it is
-- measured on the database's clock, whatever the server's says.
insert into board_watch (clinic_id, until)
select unnest($1::uuid[]), now() + make_interval(secs => $2)
on conflict (clinic_id) do update set until = greatest(board_watch.until, excluded.until)
