-- Undo 0013_ledger_without_kind_check.
ALTER TABLE wheels.email_ledger ADD CONSTRAINT email_ledger_kind_fkey
    FOREIGN KEY (kind) REFERENCES wheels.email_kinds (kind);
