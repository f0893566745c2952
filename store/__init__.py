"""The SQL store shared by the API and the workers: settings, ORM models, sessions, the run
state machine and every write that changes a run (neither api/ nor worker/ owns it)."""
