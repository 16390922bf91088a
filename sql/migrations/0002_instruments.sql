-- Instruments: scoring against the patient's baseline, clinical alerts, pseudonyms for exports.

alter table clinic
    add column pain_alert_threshold integer not null default 9,
    add constraint clinic_pain_alert_threshold_range check (pain_alert_threshold between 1 and 10);

-- A stable pseudonymous id for exports and research (no link to the patient's id or name).
alter table patient
    add column pseudonym text not null
        default 'P-' || upper(substr(replace(gen_random_uuid()::text, '-', ''), 1, 12)),
    add constraint patient_pseudonym_key unique (pseudonym);

-- Flags the answers themselves raise (severe side effect, PGIC worse); the database adds those
-- that need the patient's history or clinic settings, and raises alerts for all of them.
alter table checkin
    add column flags text[] not null default '{}';

create type alert_kind as enum
    ('pain_high', 'worsening', 'severe_side_effect', 'pgic_worse', 'missed_twice');
create type alert_status as enum ('open', 'acknowledged');

create table alert (
    id uuid primary key default gen_random_uuid(),
    patient_id uuid not null,
    kind alert_kind not null,
    status alert_status not null default 'open',
    raised_at timestamptz not null default now(),
    checkin_id uuid,
    detail jsonb not null default '{}'::jsonb,
    acknowledged_at timestamptz,
    acknowledged_by uuid,
    note text,
    constraint alert_patient_fk foreign key (patient_id) references patient (id),
    constraint alert_checkin_fk foreign key (checkin_id) references checkin (id),
    constraint alert_acknowledged_by_fk foreign key (acknowledged_by) references coordinator (id),
    constraint alert_acknowledgement_complete check (
        (status = 'acknowledged') = (acknowledged_at is not null and acknowledged_by is not null)
    ),
    constraint alert_note_length check (char_length(note) <= 2000),
    constraint alert_detail_object check (jsonb_typeof(detail) = 'object')
);
-- One open alert per patient and kind: raising again while one is open changes nothing.
create unique index alert_one_open_per_kind on alert (patient_id, kind) where status = 'open';
create index alert_open_idx on alert (raised_at) where status = 'open';

-- Tokens are cached by condition too (the weekly CRPS item): tell every process.
drop trigger patient_status_notify on patient;
create trigger patient_status_notify
    after update of status, condition on patient
    for each row when (old.status is distinct from new.status or old.condition is distinct from new.condition)
    execute function device_changed_notify();

-- Change from baseline of an outcome (pain now 0-10, PEG-3), IMMPACT categories:
-- improvement of >= 50% substantial, >= 30% moderate; worsening by >= 2 points or >= 30%.
create function outcome_category(change numeric, pct numeric) returns text
language sql immutable as $$
    select case
        when pct is not null and pct <= -50 then 'substantial_improvement'
        when pct is not null and pct <= -30 then 'moderate_improvement'
        when change >= 2 or (pct is not null and pct >= 30) then 'worsening'
        else 'no_meaningful_change'
    end
$$;

-- The outcome block stored with a check-in of value v of metric m answered at t, from the
-- patient's earlier check-ins. Baseline: the mean over the 14 days before the first infusion
-- when there are check-ins then, else the mean of the first three check-ins (this one counting
-- if it is among them); none before that. The 3-day mean (this one included) is what the
-- worsening alert compares. Every lookup is a short range of checkin_patient_answered_idx.
create function checkin_outcome(p uuid, m text, v numeric, t timestamptz) returns jsonb
language plpgsql stable as $$
declare
    first_infusion timestamptz;
    base numeric;
    base_n integer;
    base_kind text;
    xs numeric[];
    ats timestamptz[];
    recent numeric;
    change numeric;
    pct numeric;
    recent_change numeric;
    recent_pct numeric;
begin
    if m is null or v is null then
        return '{}'::jsonb;
    end if;
    select s.scheduled_at into first_infusion from infusion_session s
    where s.patient_id = p and s.status <> 'cancelled'
    order by s.scheduled_at limit 1;
    if first_infusion is not null then
        select avg(x), count(*) into base, base_n from (
            select (c.scores ->> m)::numeric as x from checkin c
            where c.patient_id = p and c.scores ? m
              and c.answered_at >= first_infusion - interval '14 days'
              and c.answered_at < first_infusion
            union all
            select v where t >= first_infusion - interval '14 days' and t < first_infusion
        ) b;
        base_kind := 'before_first_infusion';
    end if;
    if base_n is null or base_n = 0 then
        -- The three oldest earlier ones (an index scan that stops at three), then this one.
        select array_agg(x order by at), array_agg(at order by at) into xs, ats from (
            select (c.scores ->> m)::numeric as x, c.answered_at as at from checkin c
            where c.patient_id = p and c.scores ? m
            order by c.answered_at, c.id
            limit 3
        ) oldest;
        select avg(x), count(*) into base, base_n from (
            select x from (
                select unnest(coalesce(xs, '{}')) as x, unnest(coalesce(ats, '{}')) as at
                union all
                select v, t
            ) candidates
            order by at
            limit 3
        ) b;
        base_kind := 'first_three';
        if base_n < 3 then
            return jsonb_build_object('outcome', jsonb_build_object(
                'metric', m, 'value', v, 'baseline', null));
        end if;
    end if;
    select avg(x) into recent from (
        select (c.scores ->> m)::numeric as x from checkin c
        where c.patient_id = p and c.scores ? m
          and c.answered_at > t - interval '72 hours' and c.answered_at <= t
        union all
        select v
    ) r;
    change := round(v - base, 2);
    pct := case when base = 0 then null else round((v - base) / base * 100, 1) end;
    recent_change := round(recent - base, 2);
    recent_pct := case when base = 0 then null else round((recent - base) / base * 100, 1) end;
    return jsonb_build_object('outcome', jsonb_build_object(
        'metric', m,
        'value', v,
        'baseline', round(base, 2),
        'baseline_n', base_n,
        'baseline_kind', base_kind,
        'change', change,
        'change_pct', pct,
        'category', outcome_category(change, pct),
        'mean_3d', round(recent, 2),
        'category_3d', outcome_category(recent_change, recent_pct)
    ));
end;
$$;

-- Alerts from a new check-in: the flags its answers raised, pain at or above the clinic's
-- threshold, and worsening of the 3-day mean against baseline. One open alert per kind.
create function checkin_raise_alerts() returns trigger
language plpgsql as $$
declare
    threshold integer;
    kinds text[] := new.flags;
begin
    if (new.scores ? 'pain_now') then
        select c.pain_alert_threshold into threshold
        from patient p join clinic c on c.id = p.clinic_id where p.id = new.patient_id;
        if (new.scores ->> 'pain_now')::numeric >= threshold then
            kinds := array_append(kinds, 'pain_high');
        end if;
    end if;
    if new.scores -> 'outcome' ->> 'category_3d' = 'worsening' then
        kinds := array_append(kinds, 'worsening');
    end if;
    if cardinality(kinds) > 0 then
        insert into alert (patient_id, kind, raised_at, checkin_id)
        select new.patient_id, k::alert_kind, new.received_at, new.id
        from unnest(kinds) as k
        on conflict (patient_id, kind) where status = 'open' do nothing;
    end if;
    return null;
end;
$$;

create trigger checkin_raises_alerts
    after insert on checkin
    for each row execute function checkin_raise_alerts();

-- Two missed check-ins in a row (daily or post-infusion windows, in time order) raise an alert
-- the moment the second one is marked missed.
create function checkin_due_missed_alert() returns trigger
language plpgsql as $$
declare
    previous due_status;
begin
    select d.status into previous from checkin_due d
    where d.patient_id = new.patient_id and d.id <> new.id
      and d.questionnaire in ('daily', 'post_infusion') and d.status <> 'cancelled'
      and d.opens_at < new.opens_at
    order by d.opens_at desc
    limit 1;
    if previous = 'missed' then
        insert into alert (patient_id, kind, raised_at, detail)
        values (new.patient_id, 'missed_twice', now(), jsonb_build_object('due_id', new.id))
        on conflict (patient_id, kind) where status = 'open' do nothing;
    end if;
    return null;
end;
$$;

create trigger checkin_due_missed_twice
    after insert or update of status on checkin_due
    for each row when (new.status = 'missed' and new.questionnaire in ('daily', 'post_infusion'))
    execute function checkin_due_missed_alert();
