-- Infusion schedule -> due windows, and Web Push reminders kept as rows.

-- The clinic's protocol (see server/schedule/plan.py for how each one is used).
alter table clinic
    add column nudge_after_minutes integer not null default 240,
    add column post_infusion_days integer not null default 3,
    add column weekly_weekday smallint not null default 7,
    add column weekly_window_minutes integer not null default 2880,
    add constraint clinic_nudge_after_range check (nudge_after_minutes between 15 and 1440),
    add constraint clinic_post_infusion_days_range check (post_infusion_days between 0 and 14),
    add constraint clinic_weekly_weekday_range check (weekly_weekday between 1 and 7),
    add constraint clinic_weekly_window_range check (weekly_window_minutes between 60 and 10080);

-- Where the patient's planned windows end; the planner extends plans that run short.
alter table patient add column planned_until timestamptz;
create index patient_plan_idx on patient (planned_until nulls first) where status = 'active';

alter table infusion_session
    add column created_by uuid,
    add constraint infusion_session_created_by_fk foreign key (created_by) references coordinator (id),
    add constraint infusion_session_id_patient_key unique (id, patient_id);

-- A post-infusion window belongs to its session and moves with it.
alter table checkin_due
    add column session_id uuid,
    add constraint checkin_due_session_fk foreign key (session_id) references infusion_session (id);
-- The sweeper marks windows missed by their closing time.
create index checkin_due_open_closes_idx on checkin_due (closes_at) where status = 'open';

-- VAPID keys generated on first use when settings give none: one row, shared by every process.
create table vapid_key (
    id smallint primary key default 1,
    private_pem text not null,
    public_key text not null,
    created_at timestamptz not null default now(),
    constraint vapid_key_single_row check (id = 1)
);

-- One browser PushSubscription per device; it goes when the device is signed out.
create table push_subscription (
    id uuid primary key default gen_random_uuid(),
    patient_id uuid not null,
    device_id uuid not null,
    endpoint text not null,
    p256dh text not null,
    auth text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    last_success_at timestamptz,
    constraint push_subscription_patient_fk foreign key (patient_id) references patient (id),
    constraint push_subscription_device_fk foreign key (device_id) references device (id)
        on delete cascade,
    constraint push_subscription_endpoint_key unique (endpoint),
    constraint push_subscription_one_per_device unique (device_id),
    constraint push_subscription_endpoint_length check (char_length(endpoint) <= 2048),
    constraint push_subscription_keys_length check (
        char_length(p256dh) between 80 and 100 and char_length(auth) between 16 and 32
    )
);
create index push_subscription_patient_idx on push_subscription (patient_id);

create function device_revoked_unsubscribe() returns trigger
language plpgsql as $$
begin
    delete from push_subscription where device_id = new.id;
    return null;
end;
$$;

create trigger device_revoked_unsubscribes
    after update of revoked_at on device
    for each row when (new.revoked_at is not null)
    execute function device_revoked_unsubscribe();

create type reminder_kind as enum ('opening', 'nudge', 'manual');
create type reminder_status as enum ('pending', 'sending', 'sent', 'failed', 'cancelled', 'expired');

-- A reminder is a row with a status; next_attempt_at is set exactly while it is queued
-- (pending: when to try; sending: when the claiming process's lease runs out).
create table reminder (
    id uuid primary key default gen_random_uuid(),
    patient_id uuid not null,
    due_id uuid,
    kind reminder_kind not null,
    send_at timestamptz not null,
    expires_at timestamptz not null,
    status reminder_status not null default 'pending',
    next_attempt_at timestamptz,
    attempts integer not null default 0,
    leased_by text,
    sent_at timestamptz,
    opened_at timestamptz,
    final_reason text,
    created_by uuid,
    created_at timestamptz not null default now(),
    constraint reminder_patient_fk foreign key (patient_id) references patient (id),
    constraint reminder_due_fk foreign key (due_id, patient_id)
        references checkin_due (id, patient_id) on delete cascade,
    constraint reminder_created_by_fk foreign key (created_by) references coordinator (id),
    constraint reminder_queued_has_time check (
        (status in ('pending', 'sending')) = (next_attempt_at is not null)
    ),
    constraint reminder_sent_has_time check ((status = 'sent') = (sent_at is not null)),
    constraint reminder_window_kinds check (kind = 'manual' or due_id is not null)
);
-- One opening and one nudge per window; one manual reminder waiting per patient.
create unique index reminder_one_per_window on reminder (due_id, kind) where kind <> 'manual';
create unique index reminder_one_manual_waiting on reminder (patient_id)
    where kind = 'manual' and status in ('pending', 'sending');
create index reminder_queue_idx on reminder (next_attempt_at) where next_attempt_at is not null;
create index reminder_patient_idx on reminder (patient_id, send_at desc);
create index reminder_due_idx on reminder (due_id, patient_id);

-- Every try at one subscription: when, which, what the push service answered (or why not).
create table push_attempt (
    id bigint generated always as identity primary key,
    reminder_id uuid not null,
    subscription_id uuid,
    at timestamptz not null,
    status_code integer,
    error text,
    duration_ms integer not null,
    constraint push_attempt_reminder_fk foreign key (reminder_id) references reminder (id)
        on delete cascade
);
create index push_attempt_reminder_idx on push_attempt (reminder_id, at);

-- Wake the dispatchers when work becomes due: the payload is the earliest new time, so a
-- dispatcher sleeping until later wakes, and one already due sooner ignores it.
create function reminder_queued_notify() returns trigger
language plpgsql as $$
declare
    soonest timestamptz;
begin
    select min(next_attempt_at) into soonest from queued where status = 'pending';
    if soonest is not null then
        perform pg_notify('checkin_reminders', extract(epoch from soonest)::text);
    end if;
    return null;
end;
$$;

create trigger reminder_inserted_notify
    after insert on reminder
    referencing new table as queued
    for each statement execute function reminder_queued_notify();

create trigger reminder_updated_notify
    after update on reminder
    referencing new table as queued
    for each statement execute function reminder_queued_notify();

-- A check-in that completes its window cancels that window's waiting reminders at once.
create or replace function checkin_complete_window() returns trigger
language plpgsql as $$
begin
    with completed as (
        update checkin_due set status = 'completed', completed_at = new.received_at
        where id = new.due_id and patient_id = new.patient_id
          and questionnaire = new.questionnaire
          and status in ('open', 'missed')
          and opens_at <= new.answered_at and closes_at > new.answered_at
        returning id
    )
    update reminder r
    set status = 'cancelled', final_reason = 'answered', next_attempt_at = null
    from completed
    where r.due_id = completed.id and r.patient_id = new.patient_id
      and r.status in ('pending', 'sending');
    return null;
end;
$$;
