"""The client's own pace (no network): budgets held on a fake clock, a 429 slows it down, calm brings it back."""

from tenantmove.services.pacing import Budget, Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_budgets_hold_on_the_clients_own_clock() -> None:
    clock = Clock()
    pacer = Pacer([Budget(5, 1.0), Budget(8, 10.0)], 5, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(12):
        pacer.acquire()
        times.append(clock.now)
        pacer.release(200)
    assert times[:5] == [0.0] * 5 and times[5] == 1.0  # the sixth waits a second
    assert times[8] >= 10.0  # the ninth waits for the ten-second budget
    for i, t in enumerate(times):  # never more than 5 in any second, 8 in any ten
        assert sum(1 for u in times[:i + 1] if t - u < 1.0) <= 5
        assert sum(1 for u in times[:i + 1] if t - u < 10.0) <= 8


def test_a_429_lowers_the_limits_and_calm_regains_them() -> None:
    clock = Clock()
    pacer = Pacer([Budget(20, 1.0)], 5, clock=clock, sleep=clock.sleep)
    pacer.acquire()
    pacer.release(429)
    assert pacer.limits == [15] and pacer.throttled == 1
    clock.now += 5.0
    pacer.acquire()
    pacer.release(200)
    assert pacer.limits == [16]
