-- Undo 0016_expiring_in_order.
DELETE FROM wheels.source_contract WHERE relation = 'expiring' AND column_name = 'in_order_of';
