"""TEST-ONLY Nova virt driver: the fake driver, with snapshots that carry bytes.

Nova's stock ``fake`` driver "snapshots" by changing the task state only: the
Glance image Nova created for the snapshot stays ``queued`` with no data, and
``openstack server image create --wait`` never returns. This subclass uploads
a disk's worth of deterministic pseudo-random bytes into that image, the way
the libvirt driver streams a real disk, so the snapshot ends ``active`` with a
size, ``checksum`` (md5) and ``os_hash_value`` (sha512) that a migration tool
can copy and verify.

Disk size of a server, in bytes, first match wins:
  1. the server's metadata key ``s2d-test-disk-bytes`` (set at boot, so one
     test can ask for a 1 GiB disk while the rest stay small);
  2. the environment variable ``S2D_OS_DISK_BYTES`` of nova-compute;
  3. 4 MiB.
The content depends only on the server's UUID: two snapshots of one server
have the same bytes, two servers differ.

The snapshot is a valid image of its disk format, the base image's (Nova
creates the snapshot's record without one; the instance's system metadata
keeps the base image's as ``image_disk_format``): for qcow2, vmdk, vdi, vhd and vhdx the disk's bytes are converted
with ``qemu-img convert`` into that format, as the libvirt driver does; any
other format gets the bytes as they are (raw).

Based on ``FakeDriverWithoutFakeNodes`` because it keeps a stable compute node
identity on disk. There is still no hypervisor: the servers live in the
nova-compute process's memory, so restarting nova-compute "loses" them (the API
still shows them ACTIVE, snapshots then fail). Never restart it mid-test.

Nova imports ``compute_driver`` only as ``nova.virt.<compute_driver>``, so
up.sh writes a one-line module ``nova/virt/s2d_test_fake.py`` into the venv
that re-exports this class, and sets
``compute_driver = s2d_test_fake.SnapshotFakeDriver``.
"""

import os
import random
import shutil
import subprocess
import tempfile

from nova import exception
from nova.compute import task_states
from nova.image import glance
from nova.virt import fake

DISK_BYTES_METADATA_KEY = "s2d-test-disk-bytes"
DISK_BYTES_ENV = "S2D_OS_DISK_BYTES"
DEFAULT_DISK_BYTES = 4 * 1024 * 1024
_BLOCK = 1024 * 1024


class DiskReader(object):
    """A read()-able stream of ``size`` pseudo-random bytes seeded by ``seed``.

    glanceclient's upload wants a file-like object (a generator fails with
    "'generator' object has no attribute 'read'").
    """

    def __init__(self, seed, size):
        self._rng = random.Random(seed)
        self._left = size
        self._pending = b""

    def read(self, n=-1):
        if n is None or n < 0:
            n = self._left + len(self._pending)
        while len(self._pending) < n and self._left > 0:
            take = min(_BLOCK, self._left)
            self._pending += self._rng.randbytes(take)
            self._left -= take
        out, self._pending = self._pending[:n], self._pending[n:]
        return out


# Glance disk_format -> qemu-img's name of it.
QEMU_FORMATS = {"qcow2": "qcow2", "vmdk": "vmdk", "vdi": "vdi", "vhd": "vpc",
                "vhdx": "vhdx"}


class ConvertedDisk(object):
    """The disk's bytes converted into ``fmt`` by qemu-img, in a temporary file that goes
    away on close()."""

    def __init__(self, seed, size, fmt):
        self._dir = tempfile.mkdtemp(prefix="s2d-snapshot-")
        raw = os.path.join(self._dir, "disk.raw")
        out = os.path.join(self._dir, "disk." + fmt)
        reader = DiskReader(seed, size)
        with open(raw, "wb") as f:
            while True:
                block = reader.read(_BLOCK)
                if not block:
                    break
                f.write(block)
        subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O",
                        QEMU_FORMATS[fmt], raw, out], check=True)
        os.unlink(raw)
        self._file = open(out, "rb")

    def read(self, n=-1):
        return self._file.read(n)

    def close(self):
        self._file.close()
        shutil.rmtree(self._dir, ignore_errors=True)


def disk_bytes(instance):
    """The size of ``instance``'s pretend disk (see the module doc)."""
    metadata = instance.metadata or {}
    for raw in (metadata.get(DISK_BYTES_METADATA_KEY),
                os.environ.get(DISK_BYTES_ENV)):
        if raw is None or str(raw).strip() == "":
            continue
        try:
            size = int(str(raw).strip())
        except ValueError:
            continue
        if size >= 0:
            return size
    return DEFAULT_DISK_BYTES


class SnapshotFakeDriver(fake.FakeDriverWithoutFakeNodes):
    """Fake hypervisor whose snapshots upload ``disk_bytes(instance)`` bytes."""

    def snapshot(self, context, instance, image_id, update_task_state):
        if instance.uuid not in self.instances:
            raise exception.InstanceNotRunning(instance_id=instance.uuid)
        update_task_state(task_state=task_states.IMAGE_PENDING_UPLOAD)
        image_api = glance.API()
        record = image_api.get(context, image_id)
        # Same shape as the libvirt driver's snapshot metadata.
        metadata = {
            "name": record["name"],
            "status": "active",
            "disk_format": (record.get("disk_format")
                            or (instance.system_metadata or {}).get("image_disk_format")
                            or "raw"),
            "container_format": record.get("container_format") or "bare",
            "properties": {
                "image_location": "snapshot",
                "image_state": "available",
                "owner_id": instance.project_id,
            },
        }
        update_task_state(task_state=task_states.IMAGE_UPLOADING,
                          expected_state=task_states.IMAGE_PENDING_UPLOAD)
        fmt = metadata["disk_format"]
        if fmt in QEMU_FORMATS:
            data = ConvertedDisk(instance.uuid, disk_bytes(instance), fmt)
            try:
                image_api.update(context, image_id, metadata, data)
            finally:
                data.close()
        else:
            image_api.update(context, image_id, metadata,
                             DiskReader(instance.uuid, disk_bytes(instance)))

    def get_host_uptime(self):
        # The base class raises NotImplementedError, which nova-compute logs
        # as a traceback on every hypervisor detail request.
        return " 00:00:00 up 1 day,  0:00,  0 users,  load average: 0.00"
