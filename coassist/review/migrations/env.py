"""Alembic's environment for coassist's review database.

coassist runs its migrations itself (`coassist.review.store`), on the connection
whose transaction already holds the schema lock; that connection arrives in
``config.attributes["connection"]``. There is no offline (``--sql``) mode: there is no
``alembic.ini`` and no URL to read.
"""

from alembic import context

from coassist.review.schema import Base

connection = context.config.attributes["connection"]
# SQLite alters tables only by copying them ("batch" mode); PostgreSQL alters them in place.
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
# The caller's transaction is open, so this runs inside it and commits nothing itself.
with context.begin_transaction():
    context.run_migrations()
