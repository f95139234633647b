"""Use cases: functions ``(session, ..., actor, now)`` that validate, change and flush; never commit."""
