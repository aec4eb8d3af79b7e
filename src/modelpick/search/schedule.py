"""Asynchronous successive halving (ASHA) over a fixed set of candidates, in rungs of
training seconds. Pure: no framework, no clock, no storage — a trainer and a store drive it.

ASHA is Li et al., "A System for Massively Parallel Hyperparameter Tuning", MLSys 2020
(Algorithm 2): whenever a worker is free, promote the best not-yet-promoted candidate of the
highest rung whose top 1/η has one, else start a new candidate at the bottom rung. Three
changes fit it to a finite candidate set under a hard time budget:

- *new candidates first*: every candidate gets its bottom rung before any promotion, so a
  deadline never leaves a family untried; promotions are still asynchronous (a worker takes
  one as soon as a rung's quota allows, without waiting for the others' jobs).

- *closing a rung*: ASHA promotes the top ⌊n_k/η⌋ of the n_k results at rung k, which never
  reaches the top rung once the pool is exhausted (⌊2/3⌋ = 0). When no new candidate is left
  and nothing runs at or below rung k, rung k is closed and its quota is ⌈n_k/η⌉ (at least
  one): the search then ends like synchronous successive halving, with one candidate at the
  top rung.
- *a quota, not a rank*: a candidate promoted early, on a partial ranking, still counts
  against its rung's quota once the rung fills, so a rung never sends more than ⌈n_k/η⌉ up
  and the planned seconds are never exceeded (ASHA's "mispromotions" cost ranking, not time).
- *rung sizes from the budget*: the bottom rung's seconds r0 are chosen so that synchronous
  halving of n candidates (⌈n/η^k⌉ at rung k, each trained to r0·η^k seconds in all) fills the
  training budget; `planned_seconds` is that sum.

Why not Optuna's SuccessiveHalvingPruner: it decides per trial as values arrive, so a trial
is either pruned or continues at once. With one worker, the first candidate (always "the best
so far") then trains to the top rung before the second starts, and a fixed budget is spent
on the order the candidates came in. A worker-pull queue of (candidate, rung) jobs — this
module — promotes breadth first. Optuna keeps the record (search/store.py).
"""

from __future__ import annotations

import math
from typing import NamedTuple


class Job(NamedTuple):
    candidate: str
    rung: int


class Outcome(NamedTuple):
    """What a job gave: `value` is the validation metric at the end of the rung (None when the
    job failed: out of memory, diverged, an error)."""

    candidate: str
    rung: int
    value: float | None
    status: str = "ok"  # ok | failed


class Plan(NamedTuple):
    eta: int
    rungs_s: tuple[float, ...]  # cumulative training seconds a candidate has at each rung

    @property
    def top(self) -> int:
        return len(self.rungs_s) - 1

    def slice_s(self, rung: int) -> float:
        """Training seconds a job at `rung` adds (the rung's total minus the one below)."""
        return self.rungs_s[rung] - (self.rungs_s[rung - 1] if rung else 0.0)


def n_rungs(n: int, eta: int) -> int:
    """1 + ⌈log_η n⌉: enough rungs that one candidate remains at the top."""
    rungs, left = 1, n
    while left > 1:
        left = math.ceil(left / eta)
        rungs += 1
    return rungs


def counts(n: int, eta: int, rungs: int) -> list[int]:
    """Candidates at each rung under synchronous halving with closing quotas: ⌈n/η^k⌉."""
    out, left = [], n
    for _ in range(rungs):
        out.append(left)
        left = max(1, math.ceil(left / eta))
    return out


def plan(n: int, budget_s: float, eta: int = 3, max_rungs: int | None = None) -> Plan:
    """Rungs for `n` candidates sharing `budget_s` seconds of training."""
    if n < 1:
        raise ValueError("no candidates")
    if eta < 2:
        raise ValueError("eta must be at least 2")
    rungs = n_rungs(n, eta)
    if max_rungs is not None:
        rungs = max(1, min(rungs, max_rungs))
    per = counts(n, eta, rungs)
    # cost in units of r0: rung k adds r0·(η^k − η^(k−1)) to each of its candidates
    units = sum(c * (eta**k - (eta ** (k - 1) if k else 0)) for k, c in enumerate(per))
    r0 = budget_s / units
    return Plan(eta, tuple(r0 * eta**k for k in range(rungs)))


def planned_seconds(n: int, p: Plan) -> float:
    per = counts(n, p.eta, len(p.rungs_s))
    return sum(c * p.slice_s(k) for k, c in enumerate(per))


class Ladder:
    """The ASHA state: results per rung, jobs running, promotions made. Built from outcomes
    alone (`replay`), so a stored search resumes where it stopped."""

    def __init__(self, candidates: list[str], p: Plan, maximize: bool = True):
        if len(set(candidates)) != len(candidates):
            raise ValueError("candidate names must be unique")
        self.candidates = list(candidates)  # in the order new ones start (analytic rank)
        self.plan = p
        self.maximize = maximize
        self.results: list[dict[str, float | None]] = [{} for _ in p.rungs_s]
        self.running: set[Job] = set()

    # --- state ------------------------------------------------------------------------------
    def record(self, outcome: Outcome) -> None:
        self.running.discard(Job(outcome.candidate, outcome.rung))
        value = outcome.value if outcome.status == "ok" else None
        if value is not None and not math.isfinite(value):
            value = None
        self.results[outcome.rung][outcome.candidate] = value

    def start(self, job: Job) -> None:
        self.running.add(job)

    def replay(self, outcomes: list[Outcome]) -> Ladder:
        for o in outcomes:
            self.record(o)
        return self

    def _started(self) -> set[str]:
        seen = {c for rung in self.results for c in rung}
        return seen | {j.candidate for j in self.running}

    def _ranked(self, rung: int) -> list[str]:
        done = [(c, v) for c, v in self.results[rung].items() if v is not None]
        done.sort(key=lambda cv: (-cv[1] if self.maximize else cv[1], self.candidates.index(cv[0])))
        return [c for c, _ in done]

    def _promoted(self, rung: int) -> set[str]:
        above = set(self.results[rung + 1]) | {
            j.candidate for j in self.running if j.rung == rung + 1
        }
        return above

    def _closed(self, rung: int) -> bool:
        """No candidate can still arrive at `rung`: the pool is exhausted, nothing runs at or
        below it, and the rungs below have made all their promotions."""
        if len(self._started()) < len(self.candidates):
            return False
        if any(j.rung <= rung for j in self.running):
            return False
        # and every rung below has closed and sent up all it will
        return all(self._closed(k) and len(self._promoted(k)) >= self.quota(k) for k in range(rung))

    def quota(self, rung: int) -> int:
        n = len(self.results[rung])
        ok = sum(v is not None for v in self.results[rung].values())
        if self._closed(rung):  # a failed job takes a place in n but cannot go up
            return min(ok, max(1, math.ceil(n / self.plan.eta))) if n else 0
        return min(ok, n // self.plan.eta)

    # --- the decision -------------------------------------------------------------------------
    def next_job(self) -> Job | None:
        """The job a free worker should run, or None (everything done, or waiting on others).

        Every candidate starts (rung 0) before any promotion: under a hard time budget the
        search must not end before the last candidates have been tried at all (ASHA promotes
        first, which suits an endless stream of configurations, not a short fixed list)."""
        started = self._started()
        for c in self.candidates:
            if c not in started:
                return Job(c, 0)
        for rung in range(self.plan.top - 1, -1, -1):
            quota = self.quota(rung)
            promoted = self._promoted(rung)
            if len(promoted) >= quota:  # an early promotion ASHA later regrets still counts:
                continue  # the rung never sends more than its quota up (the budget holds)
            for c in self._ranked(rung)[:quota]:
                if c not in promoted:
                    return Job(c, rung + 1)
        return None

    def done(self) -> bool:
        return not self.running and self.next_job() is None

    def stopped_at(self, candidate: str) -> int | None:
        """The last rung `candidate` finished (None if it never finished one)."""
        rungs = [k for k, r in enumerate(self.results) if candidate in r]
        return max(rungs) if rungs else None

    def best(self, candidate: str) -> float | None:
        """Its metric at the highest rung it finished."""
        k = self.stopped_at(candidate)
        return None if k is None else self.results[k][candidate]
