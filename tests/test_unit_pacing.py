"""The client's own pace (no network): budgets held on a fake clock, a 429 slows it down, calm brings it back."""

from tenantmove.services.pacing import Budget, ByteWindow, Pacer


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


def test_a_byte_window_holds_its_limit_and_lets_a_big_piece_through_alone() -> None:
    clock = Clock()
    window = ByteWindow(100, 10.0, clock=clock, sleep=clock.sleep)
    times = []
    for size in (60, 30, 30, 250, 10):
        entry = window.take(size)
        times.append(clock.now)
        clock.now += 1.0  # each answered a second after it left: it counts from then
        window.done(entry)
    assert times[:2] == [0.0, 1.0]
    assert times[2] == 11.0  # 60 + 30 + 30 > 100: waits until the first 60 (answered at 1) has left
    assert times[3] == 22.0  # bigger than the limit: alone, once the window is empty
    assert times[4] == 33.0
