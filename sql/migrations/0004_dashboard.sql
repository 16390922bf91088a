-- The coordinator dashboard: sign-in sessions, lockout, where each audited read came from, and
-- the notifications that keep every open board live.

-- Server-side sessions. The cookie holds a 256-bit id; only its SHA-256 is stored. The CSRF
-- token is per session and checked on every form and cookie-authenticated change.
create table staff_session (
    id uuid primary key default gen_random_uuid(),
    id_hash bytea not null,
    coordinator_id uuid not null,
    csrf_token text not null,
    created_at timestamptz not null,
    last_seen_at timestamptz not null,
    ended_at timestamptz,
    client_addr inet,
    constraint staff_session_id_hash_key unique (id_hash),
    constraint staff_session_id_hash_length check (octet_length(id_hash) = 32),
    constraint staff_session_coordinator_fk foreign key (coordinator_id) references coordinator (id),
    constraint staff_session_csrf_length check (char_length(csrf_token) between 32 and 128)
);
create index staff_session_coordinator_idx on staff_session (coordinator_id, created_at);

-- Wrong passwords in a row lock the account for a while (throttling per address is separate,
-- in rate_counter); a success resets the count.
alter table coordinator
    add column failed_logins integer not null default 0,
    add column locked_until timestamptz,
    add constraint coordinator_failed_logins_range check (failed_logins >= 0);

-- From where: the client address of the request that wrote the event, when there was one.
alter table audit_event add column client_addr inet;
create index audit_event_clinic_idx on audit_event (clinic_id, at desc) where clinic_id is not null;

-- The board of every server process listens on one channel. The payload is only the clinic id
-- (no PHI): each board then re-reads what it shows. Row triggers, and only for what changes a
-- board: a new check-in, an alert raised or settled, a window swept to missed, a reminder
-- sent, failed or opened (a window the
-- check-in completes is already told by the check-in; PostgreSQL folds the same notification
-- sent twice in a transaction into one).
--
-- Only for clinics with a board open: a transaction that has sent NOTIFY takes a database-wide
-- lock to commit, which cost a third of the check-in throughput under load (bench/ingest.py).
-- Each server process keeps board_watch fresh for the clinics whose boards it is serving
-- (server/coordinators/live.py); unlogged, as it is only a minute's worth of state.
create unlogged table board_watch (
    clinic_id uuid primary key,
    until timestamptz not null,
    constraint board_watch_clinic_fk foreign key (clinic_id) references clinic (id) on delete cascade
);

create function board_changed_notify() returns trigger
language plpgsql as $$
begin
    perform pg_notify('board_changed', p.clinic_id::text)
    from patient p
    join board_watch w on w.clinic_id = p.clinic_id and w.until > now()
    where p.id = new.patient_id;
    return null;
end;
$$;

create trigger checkin_board_notify
    after insert on checkin
    for each row execute function board_changed_notify();
create trigger alert_board_notify
    after insert or update of status on alert
    for each row execute function board_changed_notify();
create trigger checkin_due_board_notify
    after update of status on checkin_due
    for each row when (new.status = 'missed' and old.status is distinct from new.status)
    execute function board_changed_notify();
-- The board shows the newest reminder's delivery: sent, failed, opened.
create trigger reminder_board_notify
    after update of status, opened_at on reminder
    for each row when (old.status is distinct from new.status
                       or old.opened_at is distinct from new.opened_at)
    execute function board_changed_notify();

-- The board and the patients list read each patient's windows by time (the last answered
-- one, misses since, adherence since the last infusion or over 30 days) from this index alone.
create index checkin_due_patient_closes_idx on checkin_due (patient_id, closes_at)
    include (status, opens_at);
