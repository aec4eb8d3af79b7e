"""The ASHA ladder with a fake trainer and a fake clock: promotion order, the budget, seeds,
resume after an interrupt at every point, several workers."""

from __future__ import annotations

import heapq
import random

import pytest

from modelpick.search.schedule import Job, Ladder, Outcome, counts, n_rungs, plan, planned_seconds


def test_rung_counts_and_sizes_fill_the_budget():
    assert n_rungs(1, 3) == 1 and n_rungs(3, 3) == 2 and n_rungs(8, 3) == 3 and n_rungs(9, 3) == 3
    assert n_rungs(10, 3) == 4 and n_rungs(4, 2) == 3
    assert counts(8, 3, 3) == [8, 3, 1]
    p = plan(8, 600.0, eta=3)
    assert len(p.rungs_s) == 3
    assert p.rungs_s[1] == pytest.approx(3 * p.rungs_s[0])
    assert planned_seconds(8, p) == pytest.approx(600.0)
    # 8·r0 + 3·(3r0 − r0) + 1·(9r0 − 3r0) = 20·r0
    assert p.rungs_s[0] == pytest.approx(30.0)
    with pytest.raises(ValueError):
        plan(0, 10.0)


def quality(seed: int, names):
    rng = random.Random(seed)
    return {c: rng.random() for c in names}


def learner(q):
    """A fake trainer: the metric grows with training seconds towards the candidate's
    quality (so longer rungs help, and ranks stay stable)."""

    def value(candidate: str, seconds: float) -> float:
        return q[candidate] * seconds / (seconds + 10.0)

    return value


def run_single(names, p, value, stop_after=None, outcomes=None):
    """One worker: take the next job, train it (the fake clock advances by its seconds)."""
    ladder = Ladder(names, p).replay(outcomes or [])
    outcomes = list(outcomes or [])
    spent = 0.0
    order = []
    while (job := ladder.next_job()) is not None:
        if stop_after is not None and len(outcomes) >= stop_after:
            return ladder, outcomes, order, spent
        ladder.start(job)
        spent += p.slice_s(job.rung)
        o = Outcome(job.candidate, job.rung, value(job.candidate, p.rungs_s[job.rung]))
        ladder.record(o)
        outcomes.append(o)
        order.append(job)
    return ladder, outcomes, order, spent


NAMES = [f"c{i}" for i in range(8)]


def test_promotion_order_is_asha_and_the_best_reaches_the_top():
    q = {c: v for c, v in zip(NAMES, [0.5, 0.9, 0.1, 0.3, 0.7, 0.2, 0.95, 0.4])}
    p = plan(len(NAMES), 200.0)
    ladder, outcomes, order, spent = run_single(NAMES, p, learner(q))
    # every candidate at the bottom first, in the given (analytic) order; then promotions,
    # best first: the top ⌈8/3⌉ = 3 of rung 0 (c6 0.95, c1 0.9, c4 0.7), then rung 1's best
    assert order[:8] == [Job(c, 0) for c in NAMES]
    assert order[8:] == [Job("c6", 1), Job("c1", 1), Job("c4", 1), Job("c6", 2)]
    assert ladder.done()
    top = [c for c in ladder.results[p.top]]
    assert top == ["c6"]  # the best candidate ends at the top rung
    assert ladder.best("c6") == max(o.value for o in outcomes)
    assert spent <= planned_seconds(len(NAMES), p) + 1e-9  # never more than planned


@pytest.mark.parametrize("seed", range(5))
def test_budget_never_exceeded_and_deterministic(seed):
    q = quality(seed, NAMES)
    p = plan(len(NAMES), 100.0)
    a = run_single(NAMES, p, learner(q))
    b = run_single(NAMES, p, learner(q))
    assert a[2] == b[2]  # the same jobs in the same order
    assert a[3] <= 100.0 + 1e-9
    best = max(q, key=q.get)
    assert a[0].stopped_at(best) == p.top


@pytest.mark.parametrize("cut", range(0, 14))
def test_resume_after_an_interrupt_anywhere_redoes_nothing(cut):
    q = quality(7, NAMES)
    p = plan(len(NAMES), 100.0)
    whole = run_single(NAMES, p, learner(q))
    _, first, order1, _ = run_single(NAMES, p, learner(q), stop_after=cut)
    ladder, _, order2, _ = run_single(NAMES, p, learner(q), outcomes=first)
    assert order1 + order2 == whole[2]  # finished jobs are not run again; the rest as planned
    assert ladder.results == whole[0].results


def test_failed_jobs_are_never_promoted():
    p = plan(3, 30.0)
    ladder = Ladder(["a", "b", "c"], p)
    for c, v in (("a", None), ("b", 0.2), ("c", 0.1)):
        ladder.record(Outcome(c, 0, v, "failed" if v is None else "ok"))
    assert ladder.next_job() == Job("b", 1)
    ladder.record(Outcome("b", 1, float("nan")))  # a NaN metric counts as failed
    assert ladder.best("b") is None and ladder.done()


def test_regression_metrics_lower_is_better():
    p = plan(3, 30.0)
    ladder = Ladder(["a", "b", "c"], p, maximize=False)
    for c, v in (("a", 3.0), ("b", 1.0), ("c", 2.0)):
        ladder.record(Outcome(c, 0, v))
    assert ladder.next_job() == Job("b", 1)


def test_several_workers_share_the_ladder_within_the_budget():
    """Four workers on an event clock: jobs take their rung's seconds; no candidate runs two
    jobs at once, every started job is finished, and the total stays within the plan."""
    q = quality(3, NAMES)
    p = plan(len(NAMES), 120.0)
    ladder = Ladder(NAMES, p)
    value = learner(q)
    events: list[tuple[float, int, Job]] = []
    now, total, seq = 0.0, 0.0, 0
    free = 4
    while True:
        while free and (job := ladder.next_job()) is not None:
            assert all(j.candidate != job.candidate for j in ladder.running)
            ladder.start(job)
            seq += 1
            heapq.heappush(events, (now + p.slice_s(job.rung), seq, job))
            total += p.slice_s(job.rung)
            free -= 1
        if not events:
            break
        now, _, job = heapq.heappop(events)
        ladder.record(Outcome(job.candidate, job.rung, value(job.candidate, p.rungs_s[job.rung])))
        free += 1
    assert ladder.done()
    assert total <= planned_seconds(len(NAMES), p) + 1e-9
    assert now < total  # the workers ran in parallel
    best = max(q, key=q.get)
    assert ladder.stopped_at(best) == p.top


def test_a_rung_of_failures_still_closes_and_the_rest_go_up():
    p = plan(4, 40.0, eta=2)
    ladder = Ladder(["a", "b", "c", "d"], p)
    for c, v in (("a", None), ("b", None), ("c", None), ("d", 0.5)):
        ladder.record(Outcome(c, 0, v, "failed" if v is None else "ok"))
    assert ladder.next_job() == Job("d", 1)
    ladder.record(Outcome("d", 1, 0.6))
    assert ladder.next_job() == Job("d", 2)
    ladder.record(Outcome("d", 2, 0.7))
    assert ladder.done() and ladder.stopped_at("d") == p.top
