import asyncio

from tapetui.engine.bus import Bus
from tapetui.engine.events import LogLine, Progress, TapeChanged


async def test_events_arrive_in_order_filtered_by_kind():
    bus = Bus()
    got, logs = [], []
    bus.subscribe(got.append)
    bus.subscribe(logs.append, LogLine)
    for i in range(5):
        bus.publish(LogLine(run_id=1, level="info", text=str(i)))
    bus.publish(TapeChanged(reason="load"))
    await bus.drain()
    assert [type(e).__name__ for e in got] == ["LogLine"] * 5 + ["TapeChanged"]
    assert [e.text for e in logs] == ["0", "1", "2", "3", "4"]
    bus.close()


async def test_a_slow_subscriber_blocks_nobody_and_loses_only_its_oldest():
    bus = Bus()
    release = asyncio.Event()
    slow_seen, fast_seen = [], []

    async def slow(e):
        await release.wait()
        slow_seen.append(e)

    bus.subscribe(slow, maxlen=10)
    bus.subscribe(fast_seen.append)
    for i in range(1000):  # publish never awaits: this loop cannot be blocked
        bus.publish(Progress(run_id=1, phase="writing", files_done=i))
    await asyncio.sleep(0.05)
    assert len(fast_seen) == 1000
    release.set()
    await bus.drain()
    slow_sub = next(s for s in bus._subs if s.handler is slow)
    # the slow one kept only the newest 10 and counted what it lost
    assert slow_sub.dropped == 990
    assert [e.files_done for e in slow_seen] == list(range(990, 1000))
    bus.close()


async def test_a_failing_subscriber_does_not_stop_others():
    bus = Bus()
    ok = []

    def bad(e):
        raise RuntimeError("boom")

    bus.subscribe(bad)
    bus.subscribe(ok.append)
    bus.publish(TapeChanged(reason="x"))
    bus.publish(TapeChanged(reason="y"))
    await bus.drain()
    assert [e.reason for e in ok] == ["x", "y"]
    bus.close()


async def test_publish_from_a_thread():
    bus = Bus()
    got = []
    bus.subscribe(got.append)
    await asyncio.to_thread(lambda: [bus.publish_threadsafe(LogLine(run_id=None, level="info", text=str(i))) for i in range(100)])
    await asyncio.sleep(0.01)
    await bus.drain()
    assert [e.text for e in got] == [str(i) for i in range(100)]
    bus.close()
