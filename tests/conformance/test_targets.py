"""Every target, against its simulator, passes the same suite (as singer-sdk's shared tap tests): a push
repeated leaves one record, a retry after a lost answer does not duplicate, a refused record raises the
error class that says what happens next, and a rate limit is backed off from without an error."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from connectors.contract.errors import RetriableError, ZhifaError
from connectors.contract.roles import Prior
from connectors.contract.states import Action, DeliveryState
from tests.support.targets import CASES, Rejection, TargetCase, feedback_on

DELIVERED = {Action.CREATED, Action.UPDATED, Action.SENT}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TargetCase]:
    """The target built against its simulator, shared by the module's tests (each uses its own records)."""
    built = CASES[request.param]()
    built.start(tmp_path_factory.mktemp(request.param))
    yield built
    built.stop()


@pytest.fixture(autouse=True)
def _faults_off(case: TargetCase) -> Iterator[None]:
    yield
    case.reset()


def test_the_same_push_twice_leaves_one_record(case: TargetCase) -> None:
    """Pushing one record twice, as after a crash before the ledger heard, leaves one record on the system."""
    record = case.record(case.new_id())

    first, second = case.push(record), case.push(record)

    assert first.action in DELIVERED and second.action in DELIVERED
    assert len(case.held(record.id)) == 1
    assert second.target_id == first.target_id


def test_a_retry_after_a_lost_answer_does_not_duplicate(case: TargetCase) -> None:
    """A write stored but unanswered fails as retriable; the retry, told it may be there, leaves one record
    — the newer version, where records change."""
    record_id = case.new_id()
    lost = case.lost()
    # Every answer lost: the call fails as retriable — unless the system answers the client's own repeat
    # as a success without losing it (the district's 40901 on a credit event already held).
    with case.lose_answers(), contextlib.suppress(RetriableError):
        case.push(case.record(record_id, 1))
    assert case.lost() > lost, "no answer was lost: the test proves nothing"
    assert len(case.held(record_id)) == 1  # stored, though the answer was lost

    done = case.push(case.record(record_id, 2), Prior(None, DeliveryState.ATTEMPTED))

    assert done.action in DELIVERED
    held = case.held(record_id)
    assert len(held) == 1
    if case.versioned:
        assert case.marker(2) in case.text(held[0])


@pytest.mark.parametrize("case", sorted(CASES), indirect=True)
def test_a_push_redone_after_a_lost_page_leaves_the_newer_version(case: TargetCase) -> None:
    """A record delivered, then pushed again as a newer version after the ledger lost that page: the engine
    passes "attempted" (its push intent survived), and the target ends with one record, the newer version.
    (The credit platform answers a re-sent I with ACCEPTED and keeps the stored version: only "attempted"
    makes the target follow with U.)"""
    if not case.versioned:
        pytest.skip(f"{case.name} records never change")
    record_id = case.new_id()
    case.push(case.record(record_id, 1))

    case.push(case.record(record_id, 2), Prior(None, DeliveryState.ATTEMPTED))

    held = case.held(record_id)
    assert len(held) == 1
    assert case.marker(2) in case.text(held[0])


REJECTIONS = [
    pytest.param(name, r, id=f"{name}-{r.why}") for name, c in sorted(CASES.items()) for r in c.rejections
]


@pytest.mark.parametrize(("case", "rejection"), REJECTIONS, indirect=["case"])
def test_a_refused_record_comes_out_as_its_error_class(case: TargetCase, rejection: Rejection) -> None:
    """A record the system refuses raises the error class of what happens next (or is skipped, or refused in
    the feedback), naming what was wrong; the target goes on with the next record."""
    attempt = rejection.make(case)
    before = case.held(attempt.record.id)

    if rejection.expect == "skipped":
        assert case.push(attempt.record, attempt.prior).action == Action.SKIPPED
    elif rejection.expect == "feedback":
        assert case.push(attempt.record, attempt.prior).action == Action.SENT
        case.held(attempt.record.id)  # the exchange collects it
        verdicts = feedback_on(case.target, attempt.record.id)
        assert [v.ok for v in verdicts] == [False] and rejection.names in verdicts[0].message
    else:
        with pytest.raises(ZhifaError) as caught:
            case.push(attempt.record, attempt.prior)
        assert isinstance(caught.value, rejection.expect), f"{type(caught.value).__name__}: {caught.value}"
        assert rejection.names in str(caught.value)
        assert case.held(attempt.record.id) == before  # nothing stored, nothing changed
    assert case.push(case.record(case.new_id())).action in DELIVERED


def test_rate_limited_calls_back_off_and_succeed(case: TargetCase) -> None:
    """With the system's rate limit on, more calls than it allows at once all succeed after backing off."""
    if case.rate_limit != "documented":
        pytest.skip(case.rate_limit)
    records = [case.record(case.new_id()) for _ in range(case.burst)]
    before = case.limited()

    with case.limits(), ThreadPoolExecutor(len(records)) as pool:
        done = list(pool.map(case.push, records))

    assert case.limited() > before, "the limit never bit: the test proves nothing"
    assert {d.action for d in done} <= DELIVERED
    assert all(len(case.held(r.id)) == 1 for r in records)


def test_a_readable_target_reads_back_what_was_sent(case: TargetCase) -> None:
    """Where the target can be read back (reconciliation's ``Reader``), a delivered record is found under
    our id with nothing differing from what was sent, and another version of it differs."""
    reader = case.system.reader(case.kind)
    if reader is None:
        pytest.skip(f"{case.name} cannot be read back")
    record = case.record(case.new_id())
    done = case.push(record)
    held = reader.held(case.kind, {record.id: Prior(done.target_id, DeliveryState.DELIVERED)})
    assert record.id in held
    assert reader.differs(case.target.translate(record, case.ctx), held[record.id]) == []
    if case.versioned:
        assert reader.differs(case.target.translate(case.record(record.id, 2), case.ctx), held[record.id])
