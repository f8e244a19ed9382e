"""Believable text for the sample app: questions about data, the bot's answers, SQL it ran, plot specs.

Texts are built once into pools from templates; rows then draw from the pools, which keeps
generating millions of rows fast.
"""

import random

METRICS = [
    "revenue",
    "order count",
    "average order value",
    "churn rate",
    "active users",
    "signups",
    "conversion rate",
    "refunds",
    "gross margin",
    "session length",
    "support tickets",
    "page views",
]
DIMENSIONS = ["region", "country", "product category", "sales channel", "customer segment", "plan", "device", "week"]
PERIODS = [
    "last month",
    "in Q3",
    "this year",
    "over the last 90 days",
    "since June",
    "in October",
    "week over week",
    "for the last 12 weeks",
    "yesterday",
    "month to date",
]
SEGMENTS = [
    "EMEA",
    "North America",
    "APAC",
    "enterprise customers",
    "the free plan",
    "mobile users",
    "returning customers",
    "the Pro plan",
    "new signups",
    "Germany",
    "Brazil",
    "the online store",
]
TABLES = ["orders", "customers", "subscriptions", "events", "invoices", "tickets", "sessions", "products"]
PLOT_TYPES = ["line", "bar", "scatter", "histogram", "pie", "heatmap", "box"]
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "llama-3.1-70b"]

QUESTION_TEMPLATES = [
    "What was the {metric} by {dimension} {period}?",
    "Can you plot {metric} for {segment} {period}?",
    "Show me the top {n} {dimension}s by {metric} {period}.",
    "Why did {metric} drop in {segment} {period}?",
    "Compare {metric} between {segment} and {segment2} {period}.",
    "How many rows in {table} are missing a {dimension}?",
    "Is there a correlation between {metric} and {metric2} across {dimension}s?",
    "Break down {metric} by {dimension} and highlight anything unusual {period}.",
    "What share of {metric} comes from {segment}?",
    "Give me a weekly trend of {metric} {period}, excluding test accounts.",
]
QUESTION_PREFIXES = ["", "", "", "Hi! ", "Quick question: ", "Follow-up: ", "Thanks. Next, ", "Sorry, one more: "]
QUESTION_SUFFIXES = [
    "",
    "",
    "",
    " Please use a bar chart.",
    " Round to two decimals.",
    " Only count paid orders.",
    " Can you also show the SQL you used?",
    " Keep it short.",
    " Exclude internal users and refunds please.",
]

ANSWER_SENTENCES = [
    "I queried the {table} table and grouped the results by {dimension}.",
    "Total {metric} {period} was {number}, which is {pct}% {direction} than the previous period.",
    "The largest contributor was {segment} with {number}, followed by {segment2}.",
    "Here is a {plot_type} chart of {metric} by {dimension}.",
    "Note that {small} rows had no {dimension} and were left out.",
    "The dip around {date} lines up with a pricing change, so it may not be a data issue.",
    "If you want, I can break this down further by {dimension2} or filter to {segment}.",
    "I excluded test accounts and refunded orders, as in your earlier question.",
    "{segment} grew fastest at {pct}%, while {segment2} stayed roughly flat.",
    "The query scanned {number} rows and took about {seconds} seconds.",
    "There is a moderate correlation (r = 0.{digits}) between {metric} and {metric2}.",
    "Values are in EUR and rounded to two decimals.",
]
BULLET_TEMPLATE = "\n- {segment}: {number}"

SYSTEM_PROMPTS = [
    (
        "You are a data analyst assistant. Answer questions about the company's data, write SQL for "
        "PostgreSQL or MySQL, explain results briefly and draw plots when asked."
    ),
    (
        "You are a helpful analytics bot. Only run read-only queries. Prefer charts for trends and tables for "
        "rankings. Say when the data looks incomplete."
    ),
]

SQL_TEMPLATES = [
    (
        "SELECT {dimension_col}, SUM(amount) AS {metric_col}\nFROM {table}\nWHERE created_at >= '{date}'\n"
        "GROUP BY {dimension_col}\nORDER BY {metric_col} DESC\nLIMIT {n};"
    ),
    (
        "SELECT date_trunc('week', created_at) AS week, COUNT(*) AS {metric_col}\nFROM {table}\n"
        "WHERE created_at >= '{date}'\nGROUP BY 1\nORDER BY 1;"
    ),
    (
        "SELECT c.{dimension_col}, AVG(o.amount) AS {metric_col}\nFROM orders o\nJOIN customers c ON c.id = o.customer_id\n"
        "GROUP BY c.{dimension_col};"
    ),
    "SELECT COUNT(*) FROM {table} WHERE {dimension_col} IS NULL;",
    (
        "SELECT {dimension_col}, COUNT(DISTINCT customer_id) AS {metric_col}\nFROM {table}\n"
        "WHERE status = 'paid' AND created_at BETWEEN '{date}' AND '{date2}'\nGROUP BY {dimension_col};"
    ),
]
SQL_ERRORS = [
    'column "{dimension_col}x" does not exist',
    'relation "{table}_2024" does not exist',
    'syntax error at or near "GROUP"',
    "division by zero",
    "function date_trunc(unknown, integer) does not exist",
]
TIMEOUT_ERROR = "canceling statement due to statement timeout"

FEEDBACK_COMMENTS = [
    "Exactly what I needed.",
    "The chart is great, thanks!",
    "Numbers don't match our dashboard.",
    "Too long, just give me the total.",
    "Wrong date range.",
    "Please label the axes.",
    "Helpful, but it ignored the refund filter.",
    "Perfect.",
    "The SQL was wrong, it double counts orders.",
]
TITLE_TEMPLATES = [
    "{metric} by {dimension}",
    "{metric} {period}",
    "{segment} deep dive",
    "Why {metric} changed",
    "{metric} vs {metric2}",
    "Weekly {metric} report",
    "Data quality: {table}",
]
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0 Mobile Safari/537.36",
    "python-requests/2.32.3",
]


class TextPools:
    """Pools of questions, answers, titles and SQL, built deterministically from one random generator."""

    def __init__(self, rng: random.Random, size: int = 3000):
        self._rng = rng
        self.questions = [self._question() for _ in range(size)]
        self.answers = [self._answer() for _ in range(size)]
        self.titles = [self._fill(rng.choice(TITLE_TEMPLATES)).capitalize() for _ in range(size // 4)]
        self.sql = [self._fill(rng.choice(SQL_TEMPLATES)) for _ in range(size // 2)]
        self.sql_errors = [self._fill(rng.choice(SQL_ERRORS)) for _ in range(100)]

    def _fill(self, template: str) -> str:
        rng = self._rng
        metric, metric2 = rng.sample(METRICS, 2)
        segment, segment2 = rng.sample(SEGMENTS, 2)
        dimension, dimension2 = rng.sample(DIMENSIONS, 2)
        return template.format(
            metric=metric,
            metric2=metric2,
            metric_col=metric.replace(" ", "_"),
            segment=segment,
            segment2=segment2,
            dimension=dimension,
            dimension2=dimension2,
            dimension_col=dimension.replace(" ", "_"),
            period=rng.choice(PERIODS),
            table=rng.choice(TABLES),
            plot_type=rng.choice(PLOT_TYPES),
            n=rng.choice([3, 5, 10, 20]),
            number=f"{rng.randint(1_000, 9_999_999):,}",
            small=rng.randint(2, 900),
            pct=rng.randint(1, 60),
            digits=rng.randint(10, 89),
            seconds=round(rng.uniform(0.1, 9.5), 1),
            direction=rng.choice(["higher", "lower"]),
            date=f"2025-{rng.randint(6, 11):02d}-{rng.randint(1, 28):02d}",
            date2=f"2025-{rng.randint(11, 12):02d}-{rng.randint(1, 28):02d}",
        )

    def _question(self) -> str:
        rng = self._rng
        text = rng.choice(QUESTION_PREFIXES) + self._fill(rng.choice(QUESTION_TEMPLATES)) + rng.choice(QUESTION_SUFFIXES)
        return text[0].upper() + text[1:]

    def _answer(self) -> str:
        """A few sentences, sometimes with a bullet list; 40 to 600 characters."""
        rng = self._rng
        target = rng.randint(40, 600)
        text = self._sentence()
        after_list = False
        while len(text) < target:
            if rng.random() < 0.15:
                addition = self._fill(BULLET_TEMPLATE)
                after_list = True
            else:
                # A sentence after a list starts a new paragraph.
                addition = ("\n" if after_list else " ") + self._sentence()
                after_list = False
            if len(text) + len(addition) > 600:
                break
            text += addition
        return text

    def _sentence(self) -> str:
        sentence = self._fill(self._rng.choice(ANSWER_SENTENCES))
        return sentence[0].upper() + sentence[1:]
