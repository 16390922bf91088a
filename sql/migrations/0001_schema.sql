-- Schema v1: clinics, staff, patients, enrollment, devices, due windows, check-ins, audit.
-- Every constraint is named: the server maps violations to 409/422 by these names.

-- Declared immutable so a CHECK can use it: the answer depends only on the time zone database.
create function is_valid_timezone(tz text) returns boolean
language plpgsql immutable strict as $$
begin
    perform now() at time zone tz;
    -- Reject POSIX-style offsets ("+05", "UTC+3") that PostgreSQL accepts but zoneinfo does not.
    return tz ~ '^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$' and tz !~ '^(UTC|GMT)[+\-]'
        and split_part(tz, '/', 1) not in ('localtime', 'Factory', 'posixrules', 'posix', 'right');
exception when others then
    return false;
end;
$$;

create type staff_role as enum ('coordinator', 'admin');
create type patient_condition as enum ('crps', 'fibromyalgia', 'lyme', 'other');
create type patient_status as enum ('invited', 'active', 'discharged');
create type patient_language as enum ('en', 'es');
create type infusion_status as enum ('scheduled', 'completed', 'cancelled');
create type due_status as enum ('open', 'completed', 'missed', 'cancelled');
create type actor_kind as enum ('coordinator', 'patient', 'operator', 'system');

create table clinic (
    id uuid primary key default gen_random_uuid(),
    name text not null,
    timezone text not null,
    daily_window_minutes integer not null default 720,
    created_at timestamptz not null default now(),
    constraint clinic_name_length check (char_length(btrim(name)) between 1 and 200),
    constraint clinic_timezone_valid check (is_valid_timezone(timezone)),
    constraint clinic_daily_window_range check (daily_window_minutes between 60 and 1440)
);

create table coordinator (
    id uuid primary key default gen_random_uuid(),
    clinic_id uuid not null,
    email text not null,
    display_name text not null default '',
    role staff_role not null default 'coordinator',
    password_hash text not null,
    created_at timestamptz not null default now(),
    disabled_at timestamptz,
    constraint coordinator_clinic_fk foreign key (clinic_id) references clinic (id),
    constraint coordinator_email_key unique (email),
    constraint coordinator_email_format check (email = lower(email) and email ~ '^[^@\s]+@[^@\s]+$'),
    constraint coordinator_display_name_length check (char_length(display_name) <= 200)
);

create table coordinator_token (
    id uuid primary key default gen_random_uuid(),
    coordinator_id uuid not null,
    token_hash bytea not null,
    label text not null default '',
    created_at timestamptz not null default now(),
    last_used_at timestamptz,
    revoked_at timestamptz,
    constraint coordinator_token_coordinator_fk foreign key (coordinator_id) references coordinator (id),
    constraint coordinator_token_hash_key unique (token_hash),
    constraint coordinator_token_hash_length check (octet_length(token_hash) = 32)
);

create table patient (
    id uuid primary key default gen_random_uuid(),
    clinic_id uuid not null,
    display_name text not null,
    timezone text not null,
    reminder_time time not null default '18:00',
    quiet_start time,
    quiet_end time,
    language patient_language not null default 'en',
    condition patient_condition not null default 'other',
    status patient_status not null default 'invited',
    reminders_paused_until timestamptz,
    created_at timestamptz not null default now(),
    constraint patient_clinic_fk foreign key (clinic_id) references clinic (id),
    constraint patient_id_clinic_key unique (id, clinic_id),
    constraint patient_display_name_length check (char_length(btrim(display_name)) between 1 and 100),
    constraint patient_timezone_valid check (is_valid_timezone(timezone)),
    constraint patient_quiet_hours_pair check ((quiet_start is null) = (quiet_end is null)),
    constraint patient_quiet_hours_distinct check (quiet_start is distinct from quiet_end or quiet_start is null)
);
create index patient_clinic_idx on patient (clinic_id, created_at);

create table enrollment_code (
    id uuid primary key default gen_random_uuid(),
    patient_id uuid not null,
    code_hash bytea not null,
    created_by uuid,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at timestamptz,
    revoked_at timestamptz,
    constraint enrollment_code_patient_fk foreign key (patient_id) references patient (id),
    constraint enrollment_code_created_by_fk foreign key (created_by) references coordinator (id),
    constraint enrollment_code_hash_key unique (code_hash),
    constraint enrollment_code_hash_length check (octet_length(code_hash) = 32),
    constraint enrollment_code_expiry_after_creation check (expires_at > created_at)
);
create index enrollment_code_patient_idx on enrollment_code (patient_id);

-- Fixed-window counters shared by every server process (enrollment throttling).
create table rate_counter (
    bucket text not null,
    window_start timestamptz not null,
    hits integer not null,
    constraint rate_counter_pkey primary key (bucket, window_start)
);
create index rate_counter_window_idx on rate_counter (window_start);

create table device (
    id uuid primary key default gen_random_uuid(),
    patient_id uuid not null,
    token_hash bytea not null,
    created_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    revoked_at timestamptz,
    constraint device_patient_fk foreign key (patient_id) references patient (id),
    constraint device_token_hash_key unique (token_hash),
    constraint device_token_hash_length check (octet_length(token_hash) = 32)
);
create index device_patient_idx on device (patient_id);

-- Server processes cache device tokens briefly; tell them at once when one stops being valid.
create function device_changed_notify() returns trigger
language plpgsql as $$
begin
    if tg_table_name = 'patient' then
        perform pg_notify('checkin_device_changed', 'patient:' || old.id::text);
    else
        perform pg_notify('checkin_device_changed', 'device:' || old.id::text);
    end if;
    return null;
end;
$$;

create trigger device_revoked_notify
    after update of revoked_at or delete on device
    for each row execute function device_changed_notify();

create trigger patient_status_notify
    after update of status on patient
    for each row when (old.status is distinct from new.status)
    execute function device_changed_notify();

create table infusion_session (
    id uuid primary key default gen_random_uuid(),
    patient_id uuid not null,
    scheduled_at timestamptz not null,
    status infusion_status not null default 'scheduled',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint infusion_session_patient_fk foreign key (patient_id) references patient (id)
);
create index infusion_session_patient_idx on infusion_session (patient_id, scheduled_at);

create table checkin_due (
    id uuid primary key default gen_random_uuid(),
    patient_id uuid not null,
    questionnaire text not null,
    local_date date not null,
    opens_at timestamptz not null,
    closes_at timestamptz not null,
    status due_status not null default 'open',
    completed_at timestamptz,
    created_at timestamptz not null default now(),
    constraint checkin_due_patient_fk foreign key (patient_id) references patient (id),
    constraint checkin_due_id_patient_key unique (id, patient_id),
    constraint checkin_due_one_per_day unique (patient_id, questionnaire, local_date),
    constraint checkin_due_closes_after_opens check (closes_at > opens_at),
    constraint checkin_due_completed_has_time check ((status = 'completed') = (completed_at is not null))
);
-- The windows a check-in can still complete (the insert looks them up on every check-in).
create index checkin_due_answerable_idx on checkin_due (patient_id, closes_at)
    where status in ('open', 'missed');

create table checkin (
    id uuid primary key,
    patient_id uuid not null,
    due_id uuid,
    questionnaire text not null,
    questionnaire_version integer not null,
    answered_at timestamptz not null,
    received_at timestamptz not null default now(),
    answers jsonb not null,
    scores jsonb not null,
    note text,
    content_hash bytea not null,
    constraint checkin_patient_fk foreign key (patient_id) references patient (id),
    constraint checkin_due_fk foreign key (due_id, patient_id) references checkin_due (id, patient_id),
    constraint checkin_answers_object check (jsonb_typeof(answers) = 'object'),
    constraint checkin_scores_object check (jsonb_typeof(scores) = 'object'),
    constraint checkin_note_length check (char_length(note) <= 2000),
    constraint checkin_content_hash_length check (octet_length(content_hash) = 32)
);
create index checkin_patient_answered_idx on checkin (patient_id, answered_at desc, id desc);

-- A check-in filed under a window completes it if it answers that questionnaire and was
-- answered while the window was open
-- (a late-syncing phone may complete a window already marked missed). Under the window's row
-- lock, so of two concurrent answers exactly one completes it.
create function checkin_complete_window() returns trigger
language plpgsql as $$
begin
    update checkin_due set status = 'completed', completed_at = new.received_at
    where id = new.due_id and patient_id = new.patient_id and questionnaire = new.questionnaire
      and status in ('open', 'missed')
      and opens_at <= new.answered_at and closes_at > new.answered_at;
    return null;
end;
$$;

create trigger checkin_completes_window
    after insert on checkin
    for each row when (new.due_id is not null)
    execute function checkin_complete_window();

-- Append-only record of who did or read what. UPDATE, DELETE and TRUNCATE are rejected below.
create table audit_event (
    id bigint generated always as identity primary key,
    at timestamptz not null default now(),
    actor_kind actor_kind not null,
    actor_id uuid,
    clinic_id uuid,
    patient_id uuid,
    action text not null,
    detail jsonb not null default '{}'::jsonb,
    constraint audit_event_action_format check (action ~ '^[a-z_]+(\.[a-z_]+)*$'),
    constraint audit_event_detail_object check (jsonb_typeof(detail) = 'object')
);
create index audit_event_patient_idx on audit_event (patient_id, at) where patient_id is not null;
create index audit_event_actor_idx on audit_event (actor_id, at);

create function audit_event_reject_change() returns trigger
language plpgsql as $$
begin
    raise exception 'audit_event is append-only: % is not allowed', tg_op
        using errcode = 'insufficient_privilege';
end;
$$;

create trigger audit_event_append_only
    before update or delete on audit_event
    for each row execute function audit_event_reject_change();

create trigger audit_event_no_truncate
    before truncate on audit_event
    for each statement execute function audit_event_reject_change();
