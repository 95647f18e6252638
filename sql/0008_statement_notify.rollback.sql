-- Undo 0008: back to pgmq's row-level notification with 0003's 250 ms throttle.
DROP TRIGGER notify_email_intents ON pgmq.q_email_intents;
DROP FUNCTION wheels.notify_email_intents();
DO $$ BEGIN PERFORM pgmq.enable_notify_insert('email_intents', 250); END $$;
