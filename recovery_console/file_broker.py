"""kombu's file-system transport (the laptop setup's broker, without Redis),
with each message written whole before a worker can see it.

kombu creates a message's ``.msg`` file, then writes it: a worker listing the
folder in between takes the empty file, fails to decode it and stops
("Unrecoverable error: JSONDecodeError"). Here a message is written under a
name no worker takes (``.msg.part``: kombu reads only names ending in
``.<queue>.msg``), then renamed, which is atomic within the folder."""

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put ``payload`` onto ``queue``, as kombu names it, in one rename."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        path = os.path.join(self.data_folder_out, name)
        try:
            with open(f"{path}.part", "wb") as part:
                part.write(str_to_bytes(dumps(payload)))
            os.replace(f"{path}.part", path)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {path!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
