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

-- The value each check-in contributes to the patient's followed outcome (pain now, PEG-3), kept
-- apart from the scores so that baseline and 3-day means are short index-only range scans.
alter table checkin
    add column outcome_metric text,
    add column outcome_value numeric,
    add constraint checkin_outcome_pair check ((outcome_metric is null) = (outcome_value is null));
create index checkin_outcome_idx on checkin (patient_id, outcome_metric, answered_at, id)
    include (outcome_value) where outcome_metric is not null;

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
-- PL/pgSQL, not SQL: these run for every check-in, and PostgreSQL re-plans an SQL function it
-- cannot inline on every call, while PL/pgSQL evaluates simple expressions on a fast path.
create function outcome_category(change numeric, pct numeric) returns text
language plpgsql immutable as $$
begin
    if pct <= -50 then
        return 'substantial_improvement';
    elsif pct <= -30 then
        return 'moderate_improvement';
    elsif change >= 2 or pct >= 30 then
        return 'worsening';
    end if;
    return 'no_meaningful_change';
end;
$$;

-- The outcome block stored with a check-in: value v of metric m against the baseline
-- (the mean of n earlier values; kind says which rule chose them) and the 3-day mean. The
-- insert in sql/queries/checkins.sql gathers those from the patient's history in the same
-- statement; this only shapes them.
create function outcome_json(
    m text, v numeric, base numeric, n bigint, kind text, recent numeric
) returns jsonb
language plpgsql immutable as $$
declare
    change numeric := round(v - base, 2);
    pct numeric := case when base = 0 then null else round((v - base) / base * 100, 1) end;
    recent_change numeric := round(recent - base, 2);
    recent_pct numeric := case when base = 0 then null else round((recent - base) / base * 100, 1) end;
begin
    if m is null or v is null then
        return '{}'::jsonb;
    end if;
    if base is null then
        return jsonb_build_object(
            'outcome', jsonb_build_object('metric', m, 'value', v, 'baseline', null));
    end if;
    return jsonb_build_object('outcome', jsonb_build_object(
        'metric', m,
        'value', v,
        'baseline', round(base, 2),
        'baseline_n', n,
        'baseline_kind', kind,
        'change', change,
        'change_pct', pct,
        'category', outcome_category(change, pct),
        'mean_3d', round(recent, 2),
        'category_3d', outcome_category(recent_change, recent_pct)));
end;
$$;

-- Alerts for the flags a new check-in carries (its answers' own, plus pain at or above the
-- clinic's threshold and a worse 3-day mean, both set by the insert). One open alert per kind.
create function checkin_raise_alerts() returns trigger
language plpgsql as $$
begin
    insert into alert (patient_id, kind, raised_at, checkin_id)
    select new.patient_id, k::alert_kind, new.received_at, new.id
    from unnest(new.flags) as k
    on conflict (patient_id, kind) where status = 'open' do nothing;
    return null;
end;
$$;

-- A check-in that reaches us days after it was answered (a phone long offline) keeps its flags
-- but raises no alert: it describes a past state, not one to act on today.
create trigger checkin_raises_alerts
    after insert on checkin
    for each row when (
        cardinality(new.flags) > 0 and new.answered_at > new.received_at - interval '3 days'
    )
    execute function checkin_raise_alerts();

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
