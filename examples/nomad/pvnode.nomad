# pvnode as a Nomad CSI node plugin on every client (type system).
#   nomad job run pvnode.nomad && nomad plugin status pvnode
#
# The image is the repository's Containerfile (localhost/pvnode:0.1.0; push it to a
# registry your clients pull from). The docker driver must allow privileged containers
# and bind mounts (client plugin "docker" { config { allow_privileged = true
# volumes { enabled = true } } }).
#
# Nomad calls the plugin on the socket in mount_dir and passes staging and target paths
# under stage_publish_base_dir (both inside this container; Nomad bind-mounts them from
# its data dir with shared propagation), hence --allowed-path=/local/csi.
#
# Type "node": this job serves NodeStage/NodePublish only. pvctl create on a node, then
# "nomad volume register" with the volume's context (pvnode.io/* keys, as "pvctl get NAME
# -o k8s" prints under volumeAttributes) makes a volume any node can stage. A "monolith"
# or "controller" plugin on every client would give each its own catalog, and a
# DeleteVolume could reach a client that never created the volume: run
# pvnode-controller.nomad (one instance, pinned) for "nomad volume create".
job "pvnode" {
  datacenters = ["dc1"]
  type        = "system"

  group "node" {
    task "pvnode" {
      driver = "docker"

      config {
        image        = "localhost/pvnode:0.1.0"
        privileged   = true
        network_mode = "host"
        args = [
          "--endpoint=unix:///csi/csi.sock",
          "--node-id=${node.unique.name}",
          "--state-dir=/var/lib/pvnode",
          "--allowed-path=/local/csi",
          "--log-format=json",
        ]

        # the journal, catalog and helper files outlive the task (see doc/operations.md)
        mount {
          type   = "bind"
          source = "/var/lib/pvnode"
          target = "/var/lib/pvnode"
          bind_options {
            propagation = "rshared"
          }
        }
        mount {
          type   = "bind"
          source = "/dev"
          target = "/dev"
        }
        mount {
          type   = "bind"
          source = "/sys"
          target = "/sys"
        }
        mount {
          type     = "bind"
          source   = "/etc/selinux"
          target   = "/etc/selinux"
          readonly = true
        }
        mount {
          type   = "bind"
          source = "/run/mount"
          target = "/run/mount"
        }
      }

      csi_plugin {
        id                     = "pvnode"
        type                   = "node"
        mount_dir              = "/csi"
        stage_publish_base_dir = "/local/csi"
        health_timeout         = "30s"
      }

      # memory is a hard limit in Nomad: the userspace helpers of staged volumes count
      # against it, and an OOM kill breaks a mounted volume. Leave room.
      resources {
        cpu    = 100
        memory = 512
      }
    }
  }
}
