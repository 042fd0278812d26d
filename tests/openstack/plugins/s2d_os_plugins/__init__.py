"""TEST-ONLY plug-ins for s2d's throwaway OpenStack clouds (tests/openstack).

They let Nova, Neutron and Cinder run without a hypervisor, network agents or
storage:

* ``nova_snapshot_driver.SnapshotFakeDriver``: Nova's fake virt driver, plus
  snapshots that upload a disk's worth of bytes to Glance.
* ``ml2_bind_anything.BindAnythingDriver``: an ML2 mechanism driver that binds
  every port on any host.
* ``cinder_file_driver.FileVolumeDriver``: a Cinder volume driver that keeps
  each volume (and snapshot) as a sparse file, so volumes carry real bytes
  from and to Glance.

None does anything a production cloud should do. Do not install them into
one.
"""
