"""The per-kind fidelity comparison (no network): a lost attachment, a doubled task, a dropped exception."""

from typing import Any

from tenantmove.workloads import fidelity


class Reader:
    def __init__(self, messages: list[dict[str, Any]], attachments: dict[str, list[bytes]],
                 events: list[dict[str, Any]], tasks: list[dict[str, Any]]) -> None:
        self._m, self._a, self._e, self._t = messages, attachments, events, tasks

    def messages(self, user: str) -> list[dict[str, Any]]:
        return self._m

    def message_attachments(self, user: str, mid: str) -> list[bytes]:
        return self._a.get(mid, [])

    def events(self, user: str) -> list[dict[str, Any]]:
        return self._e

    def contacts(self, user: str) -> list[dict[str, Any]]:
        return [{"id": "c1", "displayName": "Ann", "emailAddresses": [{"address": "ann@x.org"}]}]

    def contact_photo(self, user: str, cid: str) -> bytes | None:
        return b"png"

    def todo_lists(self, user: str) -> list[dict[str, Any]]:
        return [{"id": "l1", "displayName": "Tasks"}]

    def tasks(self, user: str, list_id: str) -> list[dict[str, Any]]:
        return self._t

    def task_attachments(self, user: str, list_id: str, task_id: str) -> list[dict[str, Any]]:
        return []


def test_lost_attachment_doubled_task_and_dropped_exception_are_each_counted() -> None:
    mail = [{"id": "m1", "subject": "Hi", "hasAttachments": True}, {"id": "m2", "subject": "Yo"}]
    series = [{"id": "e1", "subject": "Weekly", "exceptionOccurrences": [{"originalStart": "a", "subject": "moved"}]}]
    task = {"id": "t1", "title": "Do", "status": "notStarted", "checklistItems": [{"displayName": "a"}]}
    old = Reader(mail, {"m1": [b"pdf bytes"]}, series, [task])
    new = Reader(mail, {"m1": [b"pdf bytez"]}, [{"id": "e9", "subject": "Weekly"}], [task, dict(task, id="t2")])
    table = fidelity.compare(old, new, [("megan", "o", "n")]).set_index("kind")  # type: ignore[arg-type]
    assert table.loc["mail", "identical"] == 1 and table.loc["mail", "missing or changed"] == 1
    assert table.loc["events", "missing or changed"] == 1 and table.loc["events", "extra or duplicate"] == 1
    assert table.loc["tasks", "identical"] == 1 and table.loc["tasks", "extra or duplicate"] == 1
    assert table.loc["contacts", "identical"] == 1


def test_mail_that_arrived_in_the_new_mailbox_since_mail_moved_is_new_mail_not_extra() -> None:
    before = [{"id": "m1", "subject": "Old", "receivedDateTime": "2026-12-01T09:00:00Z"}]
    after = before + [{"id": "m2", "subject": "Letter", "receivedDateTime": "2026-12-04T13:16:40Z"},
                      {"id": "m3", "subject": "Old", "receivedDateTime": "2026-12-01T09:00:00Z", "isRead": True}]
    old, new = Reader(before, {}, [], []), Reader(after, {}, [], [])
    table = fidelity.compare(old, new, [("megan", "o", "n")], "2026-12-04T13:16:31Z").set_index("kind")  # type: ignore[arg-type]
    assert table.loc["mail", "arrived since mail moved"] == 1  # the letter from outside, after mail stopped
    assert table.loc["mail", "extra or duplicate"] == 1  # a copy of an old message is still extra
    unsure = fidelity.compare(old, new, [("megan", "o", "n")]).set_index("kind")  # type: ignore[arg-type]
    assert unsure.loc["mail", "extra or duplicate"] == 2  # without the moment mail moved, nothing is excused
