"""The laptop setup's broker (files under VAR_DIR, no Redis): a worker never
sees a message that is not fully written."""

import json
import threading

from kombu import Connection

from recovery_console.file_broker import Transport
from tests.test_settings import manage


def connection(folder):
    return Connection(transport=Transport, transport_options={
        "data_folder_in": str(folder), "data_folder_out": str(folder),
        "control_folder": str(folder / "control"), "store_processed": False})


def test_every_message_file_a_worker_can_see_is_whole(tmp_path):
    (tmp_path / "control").mkdir()
    body = {"payload": "x" * 2_000_000}
    done = threading.Event()

    def publish():
        with connection(tmp_path) as conn:
            queue = conn.SimpleQueue("tasks")
            for _ in range(20):
                queue.put(body)
        done.set()

    seen, torn = 0, []
    thread = threading.Thread(target=publish)
    thread.start()
    while not done.is_set():
        for path in tmp_path.glob("*.tasks.msg"):  # the names kombu's reader takes
            try:
                text = path.read_bytes()
            except FileNotFoundError:
                continue
            seen += 1
            try:
                json.loads(text)
            except ValueError:
                torn.append(len(text))
    thread.join()
    assert seen and not torn


def test_messages_go_through_and_leave_nothing_behind(tmp_path):
    (tmp_path / "control").mkdir()
    with connection(tmp_path) as conn:
        queue = conn.SimpleQueue("notices")
        for n in range(5):
            queue.put({"n": n})
        got = [queue.get(timeout=2) for _ in range(5)]
        assert sorted(m.payload["n"] for m in got) == list(range(5))
        assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob("*.msg"))


def test_the_console_uses_it_without_redis(tmp_path):
    done = manage("shell", "-c", "from recovery_console.celery import app; "
                  "print(type(app.connection_for_write().transport).__module__)",
                  REDIS_URL="", VAR_DIR=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "recovery_console.file_broker"
