# The rolling update. Its triggers are every node's launch-template version
# and the agent's version: any change replaces this resource, whose
# provisioner runs the roll and fails the apply when the roll fails. On the
# first apply it waits for the new cluster to come into service.
resource "terraform_data" "roll" {
  count = var.roll.enabled ? 1 : 0

  triggers_replace = {
    launch_template_versions = { for id, n in module.cluster_nodes : id => n.launch_template_version }
    agent_version            = var.agent.version
  }

  # Every node's hooks, groups and templates exist before the roll starts
  # (the triggers alone only order it after the templates).
  depends_on = [module.cluster_nodes]

  provisioner "local-exec" {
    command = local.roll_command
    environment = {
      STATEFUL_ASG     = join(",", [for id in sort(keys(local.nodes)) : module.cluster_nodes[id].asg_name])
      AWS_REGION       = local.region
      STATEFUL_TIMEOUT = "${var.asg_inservice_timeout_in_mins}m"

      # The roll's budget and canary (var.roll), as the variables its flags read.
      STATEFUL_MAX_UNAVAILABLE = local.roll_flags.STATEFUL_MAX_UNAVAILABLE
      STATEFUL_BY_ZONE         = local.roll_flags.STATEFUL_BY_ZONE
      STATEFUL_CANARY          = local.roll_flags.STATEFUL_CANARY
      STATEFUL_VERIFY          = local.roll_flags.STATEFUL_VERIFY
      STATEFUL_SOAK            = local.roll_flags.STATEFUL_SOAK
    }
  }
}

locals {
  # `stateful roll` reads every flag from STATEFUL_<FLAG>; unset settings
  # get the flags' own defaults.
  roll_flags = {
    STATEFUL_MAX_UNAVAILABLE = var.roll.max_unavailable
    STATEFUL_BY_ZONE         = tostring(var.roll.by_zone)
    STATEFUL_CANARY          = tostring(var.roll.canary)
    STATEFUL_VERIFY          = var.roll.verify == null ? "" : var.roll.verify
    STATEFUL_SOAK            = coalesce(var.roll.soak, "0s")
  }
}
