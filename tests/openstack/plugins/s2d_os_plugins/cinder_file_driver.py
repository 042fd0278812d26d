"""TEST-ONLY Cinder volume driver: every volume is a sparse file that keeps its bytes.

Cinder's own fake drivers (``cinder.tests.fake_driver``) keep nothing: a volume
made from an image and uploaded back to Glance comes out empty. This driver
keeps each volume as a sparse file ``volume-<id>`` (and each snapshot as a
file ``snapshot-<id>``) in one directory, so that image -> volume ->
snapshot -> volume -> image moves real bytes, as an LVM or Ceph backend would:

* create: a sparse file of the volume's size; delete: the file goes;
* snapshot: a sparse copy of the volume's file; volume from a snapshot and
  clone: a sparse copy, grown to the new size; extend: the file grows;
  revert to snapshot: the snapshot's bytes copied back, size kept;
* image -> volume: ``cinder.image.image_utils.fetch_to_raw`` (download from
  Glance, format check, ``qemu-img convert`` to raw into the file), then the
  file set back to the volume's size, as Cinder's NFS driver does;
* volume -> image: ``volume_utils.upload_volume`` (the file's bytes as they
  are for disk_format raw, else converted by ``qemu-img convert``);
* attach: connection info of type ``local`` (``device_path`` = the file), which
  os-brick's LocalConnector and Nova's fake virt driver (which only records it)
  both accept;
* stats: ``s2d_capacity_gb`` total, less the provisioned sizes of the volumes,
  so that the scheduler places volumes (and refuses what does not fit).

Configuration (in the backend's section of cinder.conf)::

    volume_driver = s2d_os_plugins.cinder_file_driver.FileVolumeDriver
    volume_backend_name = s2d-file
    s2d_volumes_dir = /path/to/dir      # created if missing
    s2d_capacity_gb = 1000

``qemu-img`` (Debian's qemu-utils) must be on PATH, and Cinder's privsep
helper startable (image_utils inspects formats in its privsep daemon).
There is no data plane: the files are only read and written by cinder-volume.
"""

import os

from oslo_concurrency import processutils
from oslo_config import cfg
from oslo_log import log as logging
from oslo_utils import units

from cinder import exception
from cinder.image import image_utils
from cinder.volume import configuration
from cinder.volume import driver
from cinder.volume import volume_utils

LOG = logging.getLogger(__name__)

file_opts = [
    cfg.StrOpt("s2d_volumes_dir",
               default="$state_path/s2d-volumes",
               help="TEST-ONLY: directory of the volume and snapshot files"),
    cfg.IntOpt("s2d_capacity_gb", default=1000, min=1,
               help="TEST-ONLY: capacity the backend reports, in GiB"),
]
cfg.CONF.register_opts(file_opts, group=configuration.SHARED_CONF_GROUP)


class FileVolumeDriver(driver.VolumeDriver):
    """Volumes as sparse files in ``s2d_volumes_dir`` (TEST-ONLY)."""

    VERSION = "1.0.0"
    # no third-party CI for a test fixture; keeps Cinder's driver list quiet
    CI_WIKI_NAME = "s2d-tests"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.configuration.append_config_values(file_opts)
        self._dir = None

    @staticmethod
    def get_driver_options():
        return file_opts

    # ------------------------------------------------------------ paths ---
    def _volume_path(self, volume_id):
        return os.path.join(self._dir, "volume-%s" % volume_id)

    def _snapshot_path(self, snapshot_id):
        return os.path.join(self._dir, "snapshot-%s" % snapshot_id)

    def local_path(self, volume):
        return self._volume_path(volume.id)

    def _copy(self, src, dst, size_gb):
        """A sparse copy of ``src`` at ``dst``, then ``dst`` set to ``size_gb``."""
        if not os.path.exists(src):
            raise exception.VolumeBackendAPIException(
                data="s2d file driver: %s is missing" % src)
        tmp = dst + ".part"
        self._execute("cp", "--sparse=always", src, tmp)
        os.truncate(tmp, size_gb * units.Gi)
        os.replace(tmp, dst)

    @staticmethod
    def _unlink(path):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    # ------------------------------------------------------------ setup ---
    def do_setup(self, context):
        self._dir = self.configuration.s2d_volumes_dir
        os.makedirs(self._dir, exist_ok=True)

    def check_for_setup_error(self):
        if not os.path.isdir(self._dir) or not os.access(self._dir, os.W_OK):
            raise exception.VolumeBackendAPIException(
                data="s2d file driver: %s is not a writable directory"
                % self._dir)
        try:
            self._execute("qemu-img", "--version")
        except (OSError, processutils.ProcessExecutionError) as e:
            raise exception.VolumeBackendAPIException(
                data="s2d file driver: qemu-img is needed (%s)" % e)

    # ---------------------------------------------------------- volumes ---
    def create_volume(self, volume):
        path = self.local_path(volume)
        with open(path, "wb"):  # a rescheduled create finds its own file
            pass
        os.truncate(path, volume.size * units.Gi)
        LOG.info("s2d file driver: volume %s: %d GiB sparse file %s",
                 volume.id, volume.size, path)

    def delete_volume(self, volume):
        self._unlink(self.local_path(volume))

    def create_cloned_volume(self, volume, src_vref):
        self._copy(self._volume_path(src_vref.id), self.local_path(volume),
                   max(volume.size, src_vref.size))

    def extend_volume(self, volume, new_size):
        path = self.local_path(volume)
        if os.path.getsize(path) > new_size * units.Gi:
            raise exception.VolumeBackendAPIException(
                data="s2d file driver: cannot shrink %s" % volume.id)
        os.truncate(path, new_size * units.Gi)

    # -------------------------------------------------------- snapshots ---
    def create_snapshot(self, snapshot):
        self._copy(self._volume_path(snapshot.volume_id),
                   self._snapshot_path(snapshot.id), snapshot.volume_size)

    def delete_snapshot(self, snapshot):
        self._unlink(self._snapshot_path(snapshot.id))

    def create_volume_from_snapshot(self, volume, snapshot):
        self._copy(self._snapshot_path(snapshot.id), self.local_path(volume),
                   max(volume.size, snapshot.volume_size))

    def revert_to_snapshot(self, context, volume, snapshot):
        self._copy(self._snapshot_path(snapshot.id), self.local_path(volume),
                   volume.size)

    # ----------------------------------------------------------- images ---
    def copy_image_to_volume(self, context, volume, image_service, image_id,
                             disable_sparse=False):
        path = self.local_path(volume)
        image_utils.fetch_to_raw(context, image_service, image_id, path,
                                 self.configuration.volume_dd_blocksize,
                                 size=volume.size, run_as_root=False,
                                 disable_sparse=disable_sparse)
        # qemu-img convert wrote a file of the image's virtual size; the
        # volume keeps its own (the NFS driver does the same with qemu-img
        # resize)
        os.truncate(path, volume.size * units.Gi)

    def copy_volume_to_image(self, context, volume, image_service,
                             image_meta):
        volume_utils.upload_volume(context, image_service, image_meta,
                                   self.local_path(volume), volume,
                                   run_as_root=False)

    # ------------------------------------------------------ attachments ---
    def ensure_export(self, context, volume):
        pass

    def create_export(self, context, volume, connector):
        pass

    def remove_export(self, context, volume):
        pass

    def initialize_connection(self, volume, connector, **kwargs):
        return {
            "driver_volume_type": "local",
            "data": {
                "device_path": self.local_path(volume),
                "volume_id": volume.id,
                "access_mode": "rw",
            },
        }

    def terminate_connection(self, volume, connector, **kwargs):
        pass

    # ------------------------------------------------------------ stats ---
    def _update_volume_stats(self):
        provisioned = 0
        for name in os.listdir(self._dir):
            if name.startswith("volume-") and not name.endswith(".part"):
                try:
                    provisioned += os.path.getsize(os.path.join(self._dir, name))
                except FileNotFoundError:
                    pass
        total = self.configuration.s2d_capacity_gb
        provisioned_gb = provisioned / units.Gi
        self._stats = {
            "volume_backend_name": (self.configuration.safe_get("volume_backend_name")
                                    or "s2d-file"),
            "vendor_name": "s2d tests",
            "driver_version": self.VERSION,
            "storage_protocol": "local",
            "total_capacity_gb": total,
            "free_capacity_gb": max(0, round(total - provisioned_gb, 2)),
            "provisioned_capacity_gb": round(provisioned_gb, 2),
            "reserved_percentage": 0,
            "QoS_support": False,
            "thin_provisioning_support": False,
            "thick_provisioning_support": True,
            "multiattach": False,
            "online_extend_support": True,
            "sparse_copy_volume": True,
        }
