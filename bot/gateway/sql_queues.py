"""The inbox and the outbox in the SQL database: the embedded default's durable queues.

Without Redis, the app keeps its queues in the directory's database (SQLite in
WAL mode by default, PostgreSQL in production). ``push`` commits before it
returns, so a message the platform was told is accepted survives the process
being killed, and the restarted app (or another instance on PostgreSQL)
claims it again.

The semantics are those of ``bot.gateway.queues`` (read its docstring). One row
per key (``gateway_queue_keys``) holds its due time, its lease owner and when
its items expire; one row per item (``gateway_queue_items``), in the order of
its autoincrement id; one row per *once* mark (``gateway_queue_once``). As in
the other two, the lease is the due time: a key can be claimed once its due
time has passed, whether it was released or its owner's lease ran out; the
owner column decides who may still renew, pop, replace or release it.

Every operation is one short transaction, and every write is atomic:

* SQLite: a write transaction starts with ``BEGIN IMMEDIATE``, which takes the
  database's write lock at once, so writers run one after the other (a
  deferred transaction that read first could not become a writer after another
  writer committed: SQLite would fail it instead of waiting).
* PostgreSQL: a write first locks its key's row (``SELECT ... FOR UPDATE``), so
  the writes of one key run one after the other; ``claim`` skips the rows other
  claims hold (``SKIP LOCKED``), so two instances never take the same key;
  inserts that may race are ``INSERT ... ON CONFLICT``.

The database calls block: each operation runs in a worker thread
(``asyncio.to_thread``). Times are wall-clock seconds since the epoch, because
several processes, and a restarted one, compare them. Expired rows are ignored
at once and deleted in passing by ``claim``, at most once a minute per queue
object. Items are stored as given: the gateway seals them before the push.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Double,
    Engine,
    ForeignKeyConstraint,
    Index,
    Integer,
    Select,
    String,
    Text,
    case,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from bot.db import Base

NAME_LENGTH = 32
KEY_LENGTH = 255
PURGE_SECONDS = 60.0
PURGE_BATCH = 500  # expired keys deleted per purge: keeps its transaction short
_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


class QueueKey(Base):
    """A key that has work: when it is due, who holds its lease, when its items expire."""

    __tablename__ = "gateway_queue_keys"
    __table_args__ = (
        Index("ix_gateway_queue_keys_due", "queue", "due_at"),
        Index("ix_gateway_queue_keys_expiry", "queue", "expires_at"),
    )

    queue: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    due_at: Mapped[float] = mapped_column(Double)
    owner: Mapped[str | None] = mapped_column(String(KEY_LENGTH))
    expires_at: Mapped[float] = mapped_column(Double)


class QueueItem(Base):
    """One item of a key's queue; the smallest id is the head."""

    __tablename__ = "gateway_queue_items"
    __table_args__ = (
        ForeignKeyConstraint(
            ["queue", "key"], ["gateway_queue_keys.queue", "gateway_queue_keys.key"]
        ),
        Index("ix_gateway_queue_items_key", "queue", "key", "id"),
    )

    # SQLite numbers rows itself only in an INTEGER PRIMARY KEY.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    queue: Mapped[str] = mapped_column(String(NAME_LENGTH))
    key: Mapped[str] = mapped_column(String(KEY_LENGTH))
    item: Mapped[str] = mapped_column(Text)


class OnceMark(Base):
    """A *once* key seen by ``push`` (a platform's message id), until it expires."""

    __tablename__ = "gateway_queue_once"
    __table_args__ = (Index("ix_gateway_queue_once_expiry", "queue", "expires_at"),)

    queue: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    mark: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    expires_at: Mapped[float] = mapped_column(Double)


class SqlQueues:
    """The queues named ``name`` in the database of ``engine`` (which the caller disposes)."""

    def __init__(self, engine: Engine, name: str) -> None:
        dialect = engine.dialect.name
        if dialect not in _INSERTS:
            raise ValueError(f"SqlQueues supports SQLite and PostgreSQL, not {dialect}")
        self.name = name
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._insert = _INSERTS[dialect]
        self._immediate = dialect == "sqlite"
        self._next_purge = 0.0

    # ------------------------------------------------------------ the protocol

    async def push(self, key: str, item: str, ttl_seconds: float,
                   once: str | None = None, once_ttl_seconds: float = 0) -> bool:
        return await asyncio.to_thread(self._push, key, item, ttl_seconds, once, once_ttl_seconds)

    async def claim(self, owner: str, lease_seconds: float) -> str | None:
        return await asyncio.to_thread(self._claim, owner, lease_seconds)

    async def renew(self, key: str, owner: str, lease_seconds: float) -> bool:
        return await asyncio.to_thread(self._renew, key, owner, lease_seconds)

    async def peek(self, key: str) -> str | None:
        return await asyncio.to_thread(self._peek, key)

    async def items(self, key: str) -> list[str]:
        return await asyncio.to_thread(self._items, key)

    async def replace(self, key: str, owner: str, index: int, item: str) -> bool:
        return await asyncio.to_thread(self._replace, key, owner, index, item)

    async def pop(self, key: str, owner: str) -> bool:
        return await asyncio.to_thread(self._pop, key, owner)

    async def release(self, key: str, owner: str, due_in_seconds: float, seen: int | None = None) -> None:
        await asyncio.to_thread(self._release, key, owner, due_in_seconds, seen)

    async def pending(self) -> int:
        return await asyncio.to_thread(self._pending)

    async def forget(self, key: str) -> None:
        await asyncio.to_thread(self._forget, key)

    async def close(self) -> None:
        """Nothing to release: each operation returns its connection to the engine's pool."""
        return None

    # ------------------------------------------------- the work, in a thread

    def _push(self, key: str, item: str, ttl_seconds: float,
              once: str | None, once_ttl_seconds: float) -> bool:
        with self._writing() as session:
            now = time.time()
            if once is not None and not self._mark(session, once, now, now + once_ttl_seconds):
                return False
            if self._locked(session, key, QueueKey.expires_at <= now) is not None:
                self._delete_key(session, key)  # its items expired: start afresh
            expires_at = now + ttl_seconds
            session.execute(
                self._insert(QueueKey)
                .values(queue=self.name, key=key, due_at=now, owner=None, expires_at=expires_at)
                .on_conflict_do_update(
                    index_elements=[QueueKey.queue, QueueKey.key],
                    # She wrote again: a key waiting out a backoff is due now (not one a worker holds).
                    set_={"expires_at": expires_at,
                          "due_at": case((QueueKey.owner.is_(None) & (QueueKey.due_at > now), now),
                                         else_=QueueKey.due_at)},
                )
            )
            session.add(QueueItem(queue=self.name, key=key, item=item))
            return True

    def _mark(self, session: Session, once: str, now: float, until: float) -> bool:
        """Set the once mark unless it is set and unexpired; whether it was set."""
        marked = session.scalar(
            self._insert(OnceMark)
            .values(queue=self.name, mark=once, expires_at=until)
            .on_conflict_do_update(
                index_elements=[OnceMark.queue, OnceMark.mark],
                set_={"expires_at": until},
                where=OnceMark.expires_at <= now,
            )
            .returning(OnceMark.mark)
        )
        return marked is not None

    def _claim(self, owner: str, lease_seconds: float) -> str | None:
        now = time.time()
        if now >= self._next_purge:
            self._next_purge = now + PURGE_SECONDS
            self._purge()
        # Idle workers poll often: look first, and take the write lock only for a due key.
        with self._sessions() as session:
            if session.scalar(self._due(now)) is None:
                return None
        with self._writing() as session:
            now = time.time()
            row = session.scalar(self._due(now).with_for_update(skip_locked=True))
            if row is None:
                return None
            row.owner, row.due_at = owner, now + lease_seconds
            return row.key

    def _due(self, now: float) -> Select[tuple[QueueKey]]:
        """The earliest due key whose items have not expired."""
        return (
            select(QueueKey)
            .where(QueueKey.queue == self.name, QueueKey.due_at <= now, QueueKey.expires_at > now)
            .order_by(QueueKey.due_at, QueueKey.key)
            .limit(1)
        )

    def _renew(self, key: str, owner: str, lease_seconds: float) -> bool:
        with self._writing() as session:
            now = time.time()
            row = self._owned(session, key, owner, now)
            if row is None:
                return False
            row.due_at = now + lease_seconds
            return True

    def _peek(self, key: str) -> str | None:
        with self._sessions() as session:
            return session.scalar(
                select(QueueItem.item)
                .join(QueueKey)
                .where(*self._items_of(key), QueueKey.expires_at > time.time())
                .order_by(QueueItem.id)
                .limit(1)
            )

    def _items(self, key: str) -> list[str]:
        with self._sessions() as session:
            return list(session.scalars(
                select(QueueItem.item)
                .join(QueueKey)
                .where(*self._items_of(key), QueueKey.expires_at > time.time())
                .order_by(QueueItem.id)
            ))

    def _replace(self, key: str, owner: str, index: int, item: str) -> bool:
        with self._writing() as session:
            if self._owned(session, key, owner, time.time()) is None:
                return False
            row = session.scalar(
                select(QueueItem).where(*self._items_of(key)).order_by(QueueItem.id)
                .offset(index).limit(1)
            )
            if row is None:
                return False
            row.item = item
            return True

    def _pop(self, key: str, owner: str) -> bool:
        with self._writing() as session:
            if self._owned(session, key, owner, time.time()) is None:
                return False
            ids = session.scalars(
                select(QueueItem.id).where(*self._items_of(key)).order_by(QueueItem.id).limit(2)
            ).all()
            if len(ids) < 2:
                self._delete_key(session, key)  # the last item: the key is released
                return False
            session.execute(delete(QueueItem).where(QueueItem.id == ids[0]))
            return True

    def _release(self, key: str, owner: str, due_in_seconds: float, seen: int | None) -> None:
        with self._writing() as session:
            now = time.time()
            row = self._owned(session, key, owner, now)
            if row is None:
                return
            more = seen is not None and (session.scalar(
                select(func.count()).select_from(QueueItem).where(*self._items_of(key))) or 0) > seen
            row.owner, row.due_at = None, now if more else now + due_in_seconds

    def _pending(self) -> int:
        with self._sessions() as session:
            count = session.scalar(
                select(func.count())
                .select_from(QueueKey)
                .where(QueueKey.queue == self.name, QueueKey.expires_at > time.time())
            )
            return int(count or 0)

    def _forget(self, key: str) -> None:
        with self._writing() as session:
            if self._locked(session, key) is not None:
                self._delete_key(session, key)

    def _purge(self) -> None:
        """Delete expired once marks, and expired keys with their items (a batch at a time)."""
        with self._writing() as session:
            now = time.time()
            session.execute(
                delete(OnceMark).where(OnceMark.queue == self.name, OnceMark.expires_at <= now)
            )
            expired = session.scalars(
                select(QueueKey.key)
                .where(QueueKey.queue == self.name, QueueKey.expires_at <= now)
                .limit(PURGE_BATCH)
                .with_for_update(skip_locked=True)
            ).all()
            if expired:
                items = QueueItem.queue == self.name, QueueItem.key.in_(expired)
                session.execute(delete(QueueItem).where(*items))
                session.execute(
                    delete(QueueKey).where(QueueKey.queue == self.name, QueueKey.key.in_(expired))
                )

    # ----------------------------------------------------------------- helpers

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        """A write transaction, committed at the end (rolled back if it raises)."""
        with self._sessions.begin() as session:
            if self._immediate:
                session.execute(text("BEGIN IMMEDIATE"))
            yield session

    def _locked(
        self, session: Session, key: str, *conditions: ColumnElement[bool]
    ) -> QueueKey | None:
        """The key's row, locked until the end of the transaction, if it meets ``conditions``."""
        return session.scalar(
            select(QueueKey)
            .where(QueueKey.queue == self.name, QueueKey.key == key, *conditions)
            .with_for_update()
        )

    def _owned(self, session: Session, key: str, owner: str, now: float) -> QueueKey | None:
        return self._locked(session, key, QueueKey.owner == owner, QueueKey.expires_at > now)

    def _delete_key(self, session: Session, key: str) -> None:
        """Delete the key and its items; the caller holds the key's row lock."""
        session.execute(delete(QueueItem).where(*self._items_of(key)))
        session.execute(delete(QueueKey).where(QueueKey.queue == self.name, QueueKey.key == key))

    def _items_of(self, key: str) -> tuple[ColumnElement[bool], ...]:
        return QueueItem.queue == self.name, QueueItem.key == key

