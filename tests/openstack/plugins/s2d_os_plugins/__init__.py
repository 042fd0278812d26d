"""TEST-ONLY plug-ins for s2d's throwaway OpenStack clouds (tests/openstack).

They let Nova and Neutron run without a hypervisor and without network agents:

* ``nova_snapshot_driver.SnapshotFakeDriver``: Nova's fake virt driver, plus
  snapshots that upload a disk's worth of bytes to Glance.
* ``ml2_bind_anything.BindAnythingDriver``: an ML2 mechanism driver that binds
  every port on any host.

Neither does anything a production cloud should do. Do not install them into
one.
"""
