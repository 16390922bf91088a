-- name: hit :many
-- Count one attempt in each bucket of the current window; every process shares these rows.
insert into rate_counter (bucket, window_start, hits)
select bucket, $2, 1 from unnest($1::text[]) as bucket
on conflict (bucket, window_start) do update set hits = rate_counter.hits + 1
returning bucket, hits

-- name: refund :exec
update rate_counter set hits = hits - 1
where bucket = any($1::text[]) and window_start = $2 and hits > 0

-- name: purge :exec
delete from rate_counter where window_start < $1
