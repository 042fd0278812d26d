"""TEST-ONLY ML2 mechanism driver: binds every port, no agent needed.

A real ML2 driver (openvswitch, ovn, ...) binds a port only on a host where
its agent reports in. The harness runs no agents, so without this driver every
port stays ``binding_failed`` and Nova's boot ends in ``PortBindingFailed``
(server ERROR, "Exceeded maximum number of retries").

This driver accepts the first segment it is offered on whatever host asks,
claims an ``ovs`` VIF and reports the port ACTIVE. Nova's fake virt driver
plugs nothing, so nothing ever notices that no switch exists. Enabled by
``mechanism_drivers = s2d_bind_anything`` in ml2_conf.ini.
"""

from neutron_lib import constants
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api


class BindAnythingDriver(api.MechanismDriver):
    """Binds any port to the first segment offered; knows no agent or host."""

    def initialize(self):
        # Nothing to set up: there is no backend.
        pass

    @property
    def connectivity(self):
        return portbindings.CONNECTIVITY_L2

    def bind_port(self, context):
        segments = context.segments_to_bind
        if not segments:
            return
        context.set_binding(
            segments[0][api.ID],
            portbindings.VIF_TYPE_OVS,
            {portbindings.CAP_PORT_FILTER: True,
             portbindings.OVS_HYBRID_PLUG: False},
            status=constants.PORT_STATUS_ACTIVE)
