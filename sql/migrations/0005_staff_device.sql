-- Browsers a coordinator has signed in from: a cookie holds a random token, only its SHA-256
-- is kept here. The account's lock after wrong passwords does not apply on them (a guesser
-- elsewhere cannot lock the owner out); each has its own count of wrong passwords instead,
-- and stops counting as known when it reaches the limit. A new password or a disabled account
-- forgets them all.
create table staff_device (
    token_hash bytea primary key,
    coordinator_id uuid not null,
    created_at timestamptz not null,
    expires_at timestamptz not null,
    failures integer not null default 0,
    constraint staff_device_coordinator_fk foreign key (coordinator_id)
        references coordinator (id) on delete cascade,
    constraint staff_device_token_hash_length check (octet_length(token_hash) = 32)
);
create index staff_device_coordinator_idx on staff_device (coordinator_id);
