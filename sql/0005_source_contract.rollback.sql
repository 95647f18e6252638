-- Undo 0005_source_contract.
DROP TABLE wheels.source_contract;
