-- Running the jobs: one run of a job at a time, each run in the run log, and
-- no run longer than its job's time limit (docs/ARCHITECTURE.md, invariant 11).

-- The advisory-lock key of a job: the same for run_job's session lock and the
-- job function's own transaction lock, so they exclude each other.
CREATE OR REPLACE FUNCTION wheels.job_lock_key(job text) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT hashtextextended('wheels job ' || job, 0)
$$;

-- Every job function starts with this: a second run of the same job waits for
-- the first to commit, then sees what it did. Without it two overlapping
-- budget_alerts runs, each on its own snapshot, sent "over budget" and then
-- "80% used" for one budget.
CREATE OR REPLACE FUNCTION wheels.lock_job(job text) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(wheels.job_lock_key(job))
$$;

-- Cancel runs past their deadline (wheels.jobs.time_limit). pg_cron's
-- background workers ignore statement_timeout, and a job that hangs would
-- hold its lock for good, so every run_job checks on the others: the
-- cancelled run records itself as failed. Only sessions this role may signal.
CREATE OR REPLACE FUNCTION wheels.cancel_overdue_runs() RETURNS int
LANGUAGE sql AS $$
    SELECT count(*) FILTER (WHERE pg_cancel_backend(r.pid))::int
    FROM wheels.job_runs r
    JOIN pg_stat_activity a ON a.pid = r.pid AND a.backend_start <= r.started_at
    WHERE r.outcome = 'running' AND r.deadline < clock_timestamp()  -- job_runs_running_idx
      AND r.pid <> pg_backend_pid() AND pg_has_role(a.usesysid, 'MEMBER')
$$;

-- Run one job of wheels.jobs, as pg_cron does (`CALL wheels.run_job('name')`,
-- the command of its sql/cron/ file) and as `cli.py jobs run`, `demo` and `up`
-- do. A procedure, so the run log row survives the job's failure:
--   1. skip, saying so, when another run of the job still holds its lock;
--   2. record the run as 'running' (committed: status shows it);
--   3. run the job, its lock waits bounded by the job's time limit (the
--      session's lock_timeout is put back after);
--   4. record the outcome and result line, commit, and raise the job's error
--      again on failure, so pg_cron and the CLI see the failure too.
-- The runner is the session's application_name (pg_cron sets none).
-- Needs a top-level CALL outside an explicit transaction (it commits).
CREATE OR REPLACE PROCEDURE wheels.run_job(job text, INOUT result text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    runner text := coalesce(nullif(current_setting('application_name'), ''), 'pg_cron');
    time_limit interval;
    run_id bigint;
    error text;
    session_lock_timeout text := current_setting('lock_timeout');
BEGIN
    SELECT j.time_limit INTO time_limit FROM wheels.jobs j WHERE j.job = run_job.job;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no job named %: `cli.py jobs list` names them', coalesce(quote_literal(job), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM wheels.cancel_overdue_runs();
    IF NOT pg_try_advisory_lock(wheels.job_lock_key(job)) THEN
        result := format('%s: skipped, another run of it is still going', job);
        INSERT INTO wheels.job_runs (job, runner, started_at, finished_at, outcome, result)
        VALUES (job, runner, clock_timestamp(), clock_timestamp(), 'skipped', result);
        RETURN;
    END IF;
    -- Holding the lock, any run still 'running' has lost its session (a crash,
    -- a kill, a restart): it is over.
    UPDATE wheels.job_runs r
    SET outcome = 'failed', finished_at = clock_timestamp(),
        result = format('%s failed: its session ended before the run did (crash, kill or restart)', r.job)
    WHERE r.job = run_job.job AND r.outcome = 'running';
    INSERT INTO wheels.job_runs (job, runner, started_at, outcome, pid, deadline)
    VALUES (job, runner, clock_timestamp(), 'running', pg_backend_pid(), clock_timestamp() + time_limit)
    RETURNING id INTO run_id;
    COMMIT;

    -- Session-wide (cleanup commits as it goes), and put back after the run.
    PERFORM set_config('lock_timeout', (extract(epoch FROM time_limit) * 1000)::bigint::text, false);
    IF job = 'cleanup' THEN
        CALL wheels.cleanup(result, error);  -- commits as it goes, so it catches its own errors
    ELSE
        BEGIN
            result := CASE job
                WHEN 'analytics_daily' THEN wheels.analytics_daily()
                WHEN 'analytics_hourly' THEN wheels.analytics_hourly()
                WHEN 'budget_alerts' THEN wheels.budget_alerts()
                WHEN 'budget_state_rebuild' THEN wheels.budget_state_rebuild()
                WHEN 'daily_digest' THEN wheels.daily_digest()
                WHEN 'daily_report' THEN wheels.daily_report()
                WHEN 'fuel_consumption' THEN wheels.fuel_consumption()
                WHEN 'maintenance_reminders' THEN wheels.maintenance_reminders()
                WHEN 'partitions' THEN wheels.partitions()
            END;
            IF result IS NULL THEN
                RAISE EXCEPTION 'wheels.run_job has no function for job %', job;
            END IF;
        EXCEPTION WHEN query_canceled OR others THEN
            error := CASE WHEN SQLSTATE = '57014'
                               AND clock_timestamp() > (SELECT r.deadline FROM wheels.job_runs r WHERE r.id = run_id)
                          THEN format('cancelled: over its time limit of %s', time_limit)
                          ELSE SQLERRM END;
        END;
    END IF;

    IF error IS NOT NULL THEN
        result := format('%s failed: %s', job, error);
    END IF;
    UPDATE wheels.job_runs
    SET outcome = CASE WHEN error IS NULL THEN 'succeeded' ELSE 'failed' END,
        finished_at = clock_timestamp(), result = run_job.result
    WHERE id = run_id;
    COMMIT;
    PERFORM set_config('lock_timeout', session_lock_timeout, false);
    PERFORM pg_advisory_unlock(wheels.job_lock_key(job));
    IF error IS NOT NULL THEN
        RAISE EXCEPTION '%', result;
    END IF;
END
$$;
