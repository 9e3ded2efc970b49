"""The segment_rewards report computed in plain Python from per-day counts, the way the story's
script did after pandas had counted the raw rows. Shared by report_pandas.py and report_polars.py
so both peers print exactly tally's CSV: day,segment,users,active,actions,rewarded,rewards,share.
"""
from collections import defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

WEIGHTS = {"daily_reward7": 0, "hack_and_slash22": 2}
WINDOW = 7
HEAVY_PER_DAY = 15
DAYS = 8


def first_day(last: date) -> date:
    """The first day whose rows the report needs: the window before the first report day."""
    return last - timedelta(days=DAYS - 1 + WINDOW - 1)


def report(counts, rewards, last: date) -> list[str]:
    """counts: iterable of (day 'YYYY-MM-DD', user, action type, count);
    rewards: iterable of (day, user, amount as text). Returns the CSV lines."""
    weighted = defaultdict(int)  # (day, user) -> weighted actions
    actions = defaultdict(int)  # (day, user) -> actions
    for day, user, kind, n in counts:
        weighted[(day, user)] += WEIGHTS.get(kind, 1) * int(n)
        actions[(day, user)] += int(n)
    paid = defaultdict(Decimal)
    for day, user, amount in rewards:
        paid[(day, user)] += Decimal(amount)
    by_day_users = defaultdict(set)
    for day, user in actions:
        by_day_users[day].add(user)
    lines = ["day,segment,users,active,actions,rewarded,rewards,share"]
    for k in range(DAYS - 1, -1, -1):
        d = last - timedelta(days=k)
        window = [(d - timedelta(days=i)).isoformat() for i in range(WINDOW)]
        score = defaultdict(int)
        for day in window:
            for user in by_day_users.get(day, ()):
                score[user] += weighted[(day, user)]
        today = d.isoformat()
        paid_today = {u: a for (day, u), a in paid.items() if day == today}
        total = sum(paid_today.values(), Decimal(0))
        heavy = {u for u, s in score.items() if s >= HEAVY_PER_DAY * WINDOW}
        light = set(score) - heavy
        for name, members in (("heavy", heavy), ("light", light)):
            money = sum((paid_today[u] for u in members if u in paid_today), Decimal(0))
            lines.append(
                f"{today},{name},{len(members)},"
                f"{sum(1 for u in members if (today, u) in actions)},"
                f"{sum(actions.get((today, u), 0) for u in members)},"
                f"{sum(1 for u in members if u in paid_today)},"
                f"{money:.8f},{share(money, total)}"
            )
        inactive = [u for u in paid_today if u not in score]
        money = sum((paid_today[u] for u in inactive), Decimal(0))
        lines.append(
            f"{today},inactive,{len(inactive)},0,0,{len(inactive)},{money:.8f},{share(money, total)}"
        )
    return lines


def share(part: Decimal, total: Decimal) -> str:
    if total == 0:
        return "0.0"
    with localcontext() as ctx:
        ctx.prec = 60
        return str((Decimal(100) * part / total).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN))
