"""search: PostgreSQL keeps each ticket's words, so that words are intersected ticket by ticket

ANDed words must be found in one ticket, not one message. PostgreSQL's
full-text index is of messages: to intersect two common words it had to read
the ticket of every message with either word from the wide messages table
(over a second for two words of about 100,000 messages each at a million
messages, even when no ticket has both). ``ticket_words`` holds every word of
a ticket's messages, stripped of positions and weights, with a GIN index of
its own: the index intersects the words itself and yields tickets.

A ticket's tags are there too, each as ``#`` and the tag (a lexeme no word can
be), so that a word that names a tag is one more lexeme to look for.

It is a filter of candidates (a phrase, a field or a word's position is
still checked on the messages). A ticket whose words would pass the size a
tsvector may have keeps NULL there, and is always a candidate.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-09
"""

from __future__ import annotations

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

# echodesk.store.searchindex names these; they are written out here as of this revision.
ADD = """
CREATE FUNCTION echo_words_add(acc tsvector, more tsvector) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN acc IS NULL OR more IS NULL THEN NULL
    WHEN pg_column_size(acc) + pg_column_size(more) > 900000 THEN NULL
    ELSE acc || strip(more)
  END
$$
"""
TAGS = """
CREATE FUNCTION echo_tag_words(ticket bigint) RETURNS tsvector
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_to_tsvector(array_agg('#' || tag)), '') FROM ticket_tags
  WHERE ticket_id = ticket
$$
"""
AGGREGATE = """
CREATE AGGREGATE echo_ticket_words(tsvector) (
  SFUNC = echo_words_add, STYPE = tsvector, INITCOND = ''
)
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(ADD)
    op.execute(TAGS)
    op.execute(AGGREGATE)
    op.execute(
        "CREATE TABLE ticket_words (ticket_id bigint PRIMARY KEY "
        "REFERENCES tickets (id) ON DELETE CASCADE, words tsvector)"
    )
    op.execute(
        "INSERT INTO ticket_words (ticket_id, words) SELECT t.id, echo_words_add("
        "CASE WHEN m.ticket_id IS NULL THEN '' ELSE m.words END, echo_tag_words(t.id)) "
        "FROM tickets t LEFT JOIN (SELECT ticket_id, echo_ticket_words(search_vector "
        "ORDER BY id) AS words FROM messages GROUP BY ticket_id) m ON m.ticket_id = t.id"
    )
    op.execute("CREATE INDEX ix_ticket_words_words ON ticket_words USING gin (words)")
    op.execute(
        "CREATE INDEX ix_ticket_words_unknown ON ticket_words (ticket_id) WHERE words IS NULL"
    )
    op.execute("ANALYZE ticket_words")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TABLE ticket_words")
    op.execute("DROP AGGREGATE echo_ticket_words(tsvector)")
    op.execute("DROP FUNCTION echo_tag_words(bigint)")
    op.execute("DROP FUNCTION echo_words_add(tsvector, tsvector)")
