-- A "missed twice" alert is raised as of the moment the second window closed unanswered, not
-- when a sweep noticed it: the board's "open for" counts from when the check-in was missed, and
-- the time comes from the data, never from the database's clock (the server's is the one that
-- counts, and tests set it).
create or replace function checkin_due_missed_alert() returns trigger
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
        values (new.patient_id, 'missed_twice', new.closes_at, jsonb_build_object('due_id', new.id))
        on conflict (patient_id, kind) where status = 'open' do nothing;
    end if;
    return null;
end;
$$;
