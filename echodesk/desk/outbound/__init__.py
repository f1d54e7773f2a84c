"""Mail going out: the outbox queue, delivery, bounces, acknowledgements, notifications."""
