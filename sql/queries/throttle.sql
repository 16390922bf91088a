-- name: hit :scalar
-- Count one attempt in a bucket's current window; every process shares these rows.
insert into rate_counter (bucket, window_start, hits) values ($1, $2, 1)
on conflict (bucket, window_start) do update set hits = rate_counter.hits + 1
returning hits

-- name: refund :exec
update rate_counter set hits = hits - 1
where bucket = any($1::text[]) and window_start = $2 and hits > 0

-- name: purge :exec
delete from rate_counter where window_start < $1
