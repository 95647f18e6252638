-- wheels-jobs, part 13: the email ledger without a foreign key on its kind
-- (issue 13). wheels._enqueue is the ledger's one writer and inserts only
-- kinds it joined to wheels.email_kinds, so the key checked again what was
-- just checked, one lookup per row: 0.2 s of the 1.2 s it took to enqueue
-- 40,000 digests at a million users. tests/test_kinds.py keeps the kinds of
-- the code and of wheels.email_kinds equal.
-- depends: 0012_digest_batches

ALTER TABLE wheels.email_ledger DROP CONSTRAINT email_ledger_kind_fkey;
