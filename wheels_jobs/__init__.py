"""Operator side of wheels-jobs: the embedded cluster, migrations and the job catalogue."""
