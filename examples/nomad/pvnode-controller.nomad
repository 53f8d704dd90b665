# pvnode as the Nomad CSI controller plugin: one instance, pinned to one client, because
# its catalog (what CreateVolume provisioned, read back by DeleteVolume) is that client's
# /var/lib/pvnode-controller. Pair it with pvnode.nomad (the node plugins, same id).
#   nomad job run pvnode-controller.nomad
#   nomad volume create volume.hcl     # type = "csi", plugin_id = "pvnode"
job "pvnode-controller" {
  datacenters = ["dc1"]
  type        = "service"

  group "controller" {
    count = 1

    constraint {
      attribute = "${meta.pvnode_controller}"
      value     = "true"
    }

    task "pvnode" {
      driver = "docker"

      config {
        image        = "localhost/pvnode:0.1.0"
        network_mode = "host"
        args = [
          "--endpoint=unix:///csi/csi.sock",
          "--node-id=${node.unique.name}",
          "--state-dir=/var/lib/pvnode-controller",
          "--log-format=json",
        ]
        mount {
          type   = "bind"
          source = "/var/lib/pvnode-controller"
          target = "/var/lib/pvnode-controller"
        }
      }

      csi_plugin {
        id        = "pvnode"
        type      = "controller"
        mount_dir = "/csi"
      }

      resources {
        cpu    = 100
        memory = 128
      }
    }
  }
}
