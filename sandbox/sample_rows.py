"""Rows of the sample app, engine-neutral, deterministic for a seed, consistent across tables.

Planning keeps only compact arrays (conversation owner, start, size; message times) so that
millions of messages fit in memory; the rows themselves are generated while they are loaded.
Ids follow time, as in a real app: users, conversations and messages are numbered in creation order.
"""

import hashlib
import json
import random
from array import array
from bisect import bisect_right
from collections.abc import Iterator
from datetime import datetime, timedelta

from sandbox import sample_text

# A fixed window, not relative to now, so tests can use literal dates.
WINDOW_START = datetime(2025, 6, 1)
WINDOW_END = datetime(2025, 12, 1)
WINDOW_SECONDS = int((WINDOW_END - WINDOW_START).total_seconds())
DAY = 86_400
MIN_MESSAGES = 20
MESSAGES_PER_CONVERSATION = (2, 30)
EMAIL_DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com"]


def planned_counts(messages: int) -> dict[str, int]:
    """Rows per table for a number of messages."""
    if messages < MIN_MESSAGES:
        raise ValueError(f"messages must be at least {MIN_MESSAGES}, got {messages}")
    return {
        "user": max(20, messages // 100),
        "session": max(1, messages // 40),
        "conversation": messages // 10,
        "message": messages,
        "plot": messages // 20,
        "feedback": messages // 25,
        "query_log": messages // 2,
    }


def session_token(session_id: int) -> str:
    """A session's token: 64 hex digits, derived from its id."""
    return hashlib.sha256(f"safeindex-sample-session-{session_id}".encode()).hexdigest()


def timestamp(offset: int) -> str:
    """Seconds since the window start as 'YYYY-MM-DD HH:MM:SS', which both engines accept."""
    return (WINDOW_START + timedelta(seconds=offset)).isoformat(" ")


def _pool_index(key: int, pool_size: int) -> int:
    # A multiplicative hash, so a message's text follows from its id (query_log reuses the question).
    return (key * 2_654_435_761) % pool_size


class SampleData:
    """The plan for one data set; rows(table) generates that table's rows."""

    def __init__(self, messages: int, seed: int = 42):
        self.counts = planned_counts(messages)
        self.seed = seed
        # Smaller data sets need fewer distinct texts, and build them faster.
        pool_size = min(3000, max(200, messages // 20))
        self.text = sample_text.TextPools(random.Random(f"{seed}:text"), pool_size)
        plan_rng = random.Random(f"{seed}:plan")
        self._plan_users(plan_rng)
        self._plan_conversations(plan_rng)
        self._plan_messages(plan_rng)

    def _rng(self, table: str) -> random.Random:
        # One generator per table: a table's rows do not depend on which other tables were generated.
        return random.Random(f"{self.seed}:{table}")

    def rows(self, table: str) -> Iterator[tuple]:
        return getattr(self, f"_{table}_rows")()

    # Planning.

    def _plan_users(self, rng: random.Random) -> None:
        # The first user (the admin who set the app up) exists from the start; the others sign up later.
        later = sorted(rng.randrange(0, WINDOW_SECONDS * 8 // 10) for _ in range(self.counts["user"] - 1))
        self.user_created = array("i", [0, *later])

    def _owner(self, rng: random.Random, at: int) -> int:
        """A user who existed at that time; early users are the heavy users."""
        existing = bisect_right(self.user_created, at)
        return 1 + int(existing * rng.random() ** 2)

    def _plan_conversations(self, rng: random.Random) -> None:
        count = self.counts["conversation"]
        starts = sorted(rng.randrange(3600, WINDOW_SECONDS - 2 * DAY) for _ in range(count))
        self.conversation_start = array("i", starts)
        self.conversation_user = array("q", (self._owner(rng, start) for start in starts))
        low, high = MESSAGES_PER_CONVERSATION
        sizes = [low + min(high - low, int(rng.gammavariate(2.0, 4.2))) for _ in range(count)]
        # Nudge random conversations until the total is exactly the number of messages asked for.
        missing = self.counts["message"] - sum(sizes)
        while missing:
            index = rng.randrange(count)
            if missing > 0 and sizes[index] < high:
                sizes[index] += 1
                missing -= 1
            elif missing < 0 and sizes[index] > low:
                sizes[index] -= 1
                missing += 1
        self.conversation_size = array("b", sizes)
        # Some conversations start with a system prompt; they need room for a question and an answer too.
        self.has_system_prompt = array("b", (size >= 3 and rng.random() < 0.1 for size in sizes))
        first_ids = array("q")
        next_id = 1
        for size in sizes:
            first_ids.append(next_id)
            next_id += size
        self.first_message_id = first_ids

    def _plan_messages(self, rng: random.Random) -> None:
        """Message times: an answer follows its question within seconds, the next question within minutes."""
        times = array("i")
        last_times = array("i")
        random_fraction = rng.random
        for start, size, has_system in zip(self.conversation_start, self.conversation_size, self.has_system_prompt, strict=True):
            moment = start
            for position in range(size):
                times.append(moment)
                answer_follows = position < has_system or (position - has_system) % 2 == 0
                moment += 2 + int(38 * random_fraction()) if answer_follows else 15 + int(885 * random_fraction())
            last_times.append(times[-1])
        self.message_time = times
        self.conversation_updated = last_times

    def _role(self, conversation: int, position: int) -> str:
        has_system = self.has_system_prompt[conversation]
        if position < has_system:
            return "system"
        return "user" if (position - has_system) % 2 == 0 else "assistant"

    def _pick_message(self, rng: random.Random, role: str) -> tuple[int, int]:
        """A random (message id, conversation index) of a user question or an assistant answer."""
        conversation = int(rng.random() * self.counts["conversation"])
        has_system = self.has_system_prompt[conversation]
        size = self.conversation_size[conversation] - has_system
        first = self.first_message_id[conversation] + has_system
        if role == "assistant":
            return first + 1 + 2 * int(rng.random() * (size // 2)), conversation
        return first + 2 * int(rng.random() * ((size + 1) // 2)), conversation

    def _question(self, message_id: int) -> str:
        return self.text.questions[_pool_index(message_id, len(self.text.questions))]

    # Rows, in the column order of sample_app.SCHEMA.

    def _user_rows(self) -> Iterator[tuple]:
        rng = self._rng("user")
        for user_id, created in enumerate(self.user_created, start=1):
            username = f"user_{user_id:05d}"
            draw = rng.random()
            role = "admin" if user_id == 1 or draw < 0.01 else "analyst" if draw < 0.05 else "user"
            salt = f"{rng.getrandbits(64):016x}"
            password_hash = f"pbkdf2:sha256:600000${salt}${rng.getrandbits(256):064x}"
            last_login = None if rng.random() < 0.08 else created + int(rng.random() * (WINDOW_SECONDS - created))
            yield (
                user_id,
                username,
                f"{username}@{rng.choice(EMAIL_DOMAINS)}",
                password_hash,
                role,
                rng.random() < 0.93,
                timestamp(created),
                None if last_login is None else timestamp(last_login),
            )

    def _session_rows(self) -> Iterator[tuple]:
        """Tokens are derived from the session id: unique, and the same at every size, so probes can name one."""
        rng = self._rng("session")
        starts = sorted(rng.randrange(0, WINDOW_SECONDS) for _ in range(self.counts["session"]))
        for session_id, created in enumerate(starts, start=1):
            if rng.random() < 0.15:
                ip_address = "2001:db8:" + ":".join(f"{rng.getrandbits(16):x}" for _ in range(6))
            else:
                ip_address = ".".join(str(byte) for byte in rng.getrandbits(32).to_bytes(4, "big"))
            yield (
                session_id,
                self._owner(rng, created),
                session_token(session_id),
                ip_address,
                rng.choice(sample_text.USER_AGENTS),
                timestamp(created),
                timestamp(created + 14 * DAY),
            )

    def _conversation_rows(self) -> Iterator[tuple]:
        rng = self._rng("conversation")
        titles = self.text.titles
        for index in range(self.counts["conversation"]):
            yield (
                index + 1,
                self.conversation_user[index],
                titles[int(rng.random() * len(titles))],
                rng.random() < 0.15,
                timestamp(self.conversation_start[index]),
                timestamp(self.conversation_updated[index]),
            )

    def _message_rows(self) -> Iterator[tuple]:
        rng = self._rng("message")
        answers = self.text.answers
        system_prompts = sample_text.SYSTEM_PROMPTS
        for conversation, (first_id, size) in enumerate(zip(self.first_message_id, self.conversation_size, strict=True)):
            model = rng.choice(sample_text.MODELS)
            for position in range(size):
                message_id = first_id + position
                role = self._role(conversation, position)
                if role == "assistant":
                    content = answers[_pool_index(message_id, len(answers))]
                elif role == "user":
                    content = self._question(message_id)
                else:
                    content = system_prompts[conversation % len(system_prompts)]
                yield (
                    message_id,
                    conversation + 1,
                    role,
                    content,
                    timestamp(self.message_time[message_id - 1]),
                    len(content) // 4 + int(rng.random() * 8),
                    model if role == "assistant" else None,
                )

    def _plot_rows(self) -> Iterator[tuple]:
        rng = self._rng("plot")
        picks = sorted(self._pick_message(rng, "assistant") for _ in range(self.counts["plot"]))
        titles = self.text.titles
        for plot_id, (message_id, conversation) in enumerate(picks, start=1):
            user_id = self.conversation_user[conversation]
            plot_type = rng.choice(sample_text.PLOT_TYPES)
            title = titles[int(rng.random() * len(titles))]
            spec = {
                "type": plot_type,
                "x": rng.choice(sample_text.DIMENSIONS),
                "y": rng.choice(sample_text.METRICS),
                "aggregate": rng.choice(["sum", "avg", "count"]),
                "title": title,
            }
            yield (
                plot_id,
                message_id,
                conversation + 1,
                user_id,
                plot_type,
                title,
                json.dumps(spec),
                f"plots/{user_id}/{conversation + 1}/{plot_id}.png",
                timestamp(self.message_time[message_id - 1] + 1 + int(rng.random() * 20)),
            )

    def _feedback_rows(self) -> Iterator[tuple]:
        rng = self._rng("feedback")
        # A user rates an answer once: distinct messages (every conversation has an answer, and there
        # are more conversations than feedback rows, so this ends).
        picked: dict[int, int] = {}
        while len(picked) < self.counts["feedback"]:
            message_id, conversation = self._pick_message(rng, "assistant")
            picked[message_id] = conversation
        comments = sample_text.FEEDBACK_COMMENTS
        for feedback_id, message_id in enumerate(sorted(picked), start=1):
            conversation = picked[message_id]
            rating = rng.choices((1, 2, 3, 4, 5), weights=(5, 7, 13, 35, 40))[0]
            yield (
                feedback_id,
                message_id,
                self.conversation_user[conversation],
                rating,
                rng.choice(comments) if rng.random() < 0.3 else None,
                timestamp(self.message_time[message_id - 1] + 5 + int(rng.random() * 3600)),
            )

    def _query_log_rows(self) -> Iterator[tuple]:
        rng = self._rng("query_log")
        picks = sorted(self._pick_message(rng, "user") for _ in range(self.counts["query_log"]))
        sql_pool = self.text.sql
        for log_id, (message_id, conversation) in enumerate(picks, start=1):
            draw = rng.random()
            if draw < 0.95:
                status, error = "ok", None
                duration = min(29_000, int(rng.lognormvariate(5.0, 1.0)))
                row_count = int(rng.lognormvariate(3.0, 1.5))
            elif draw < 0.98:
                status, error = "error", rng.choice(self.text.sql_errors)
                duration, row_count = 5 + int(rng.random() * 200), 0
            else:
                status, error = "timeout", sample_text.TIMEOUT_ERROR
                duration, row_count = 30_000 + int(rng.random() * 50), 0
            yield (
                log_id,
                self.conversation_user[conversation],
                conversation + 1,
                self._question(message_id),
                sql_pool[int(rng.random() * len(sql_pool))],
                status,
                duration,
                row_count,
                error,
                timestamp(self.message_time[message_id - 1] + 3 + int(rng.random() * 40)),
            )
