# The rolling update. Its triggers are the hashes of what each node runs
# with (modules/node's launch_sha256: image, type, user data with the
# agent, profile, root volume, key, network): a change of any of them
# replaces this resource, whose provisioner runs the roll and fails the
# apply when the roll fails. A tag edit, or the unknown latest_version the
# real provider plans after a change of its default tags, changes none of
# them. On the first apply it waits for the new cluster to come into
# service.
resource "terraform_data" "roll" {
  count = var.roll.enabled ? 1 : 0

  triggers_replace = {
    launch = { for id, n in module.cluster_nodes : id => n.launch_sha256 }
  }

  # Every node's hooks, groups and templates exist before the roll starts
  # (the triggers alone would not order it after them).
  depends_on = [module.cluster_nodes]

  provisioner "local-exec" {
    # Short on purpose: Terraform quotes the command in front of the
    # roll's own output when it fails, so the script travels in the
    # environment and the error shows the roll's reason, not 80 lines.
    command     = var.roll.command != null ? var.roll.command : "exec /bin/sh -c \"$STATEFUL_ROLL_SCRIPT\" stateful roll"
    environment = local.roll_environment
  }
}

# A removed node drains before Terraform deletes it. Terraform deletes a
# node's termination hook before its group (the hook names the group), and
# the provider's scale-in of a group it deletes would then terminate the
# instance with no drain. This resource depends on every node's module, so
# Terraform destroys it (when its node leaves the configuration, or on
# destroy) before the node's hook: its provisioner runs `stateful
# remove-node`, which sets the group to 0 and waits while the instance
# drains through the hook. Only with drain_on_termination, read from its
# own state (a destroy-time provisioner sees nothing else), so turning the
# setting off drains nothing.
resource "terraform_data" "node_removal" {
  for_each = local.nodes

  input = {
    drain = var.drain_on_termination
    environment = merge(local.roll_credentials, {
      STATEFUL_ASG         = module.cluster_nodes[each.key].asg_name
      STATEFUL_CLUSTER     = ""
      STATEFUL_TIMEOUT     = "${ceil(local.drain_hook_timeout * 1.5 / 60)}m"
      STATEFUL_ROLL_SCRIPT = local.roll_script
    })
  }

  provisioner "local-exec" {
    when        = destroy
    command     = self.input.drain ? "exec /bin/sh -c \"$STATEFUL_ROLL_SCRIPT\" stateful remove-node" : "true"
    environment = self.input.environment
  }
}

locals {
  # Where and as whom stateful acts: the module's region and account, with
  # the roll's profile or role.
  roll_credentials = {
    AWS_REGION      = local.region
    STATEFUL_REGION = local.region
    # Always 12 digits on AWS; the offline stand-in provider's placeholder
    # caller identity is not an account, and is not checked.
    STATEFUL_EXPECT_ACCOUNT = can(regex("^[0-9]{12}$", local.account_id)) ? local.account_id : ""
    STATEFUL_PROFILE        = var.roll.profile == null ? "" : var.roll.profile
    STATEFUL_ROLE_ARN       = var.roll.role_arn == null ? "" : var.roll.role_arn
  }

  # `stateful roll` reads every flag from STATEFUL_<FLAG>; unset settings
  # get the flags' own defaults. The roll acts on the whole cluster (its
  # tag), in the module's region and account only, with the credentials
  # roll.profile or roll.role_arn name (else the runner's own).
  roll_environment = merge(
    local.roll_credentials,
    {
      STATEFUL_CLUSTER         = var.app_name
      STATEFUL_TIMEOUT         = "${var.asg_inservice_timeout_in_mins}m"
      STATEFUL_MAX_UNAVAILABLE = var.roll.max_unavailable
      STATEFUL_BY_ZONE         = tostring(var.roll.by_zone)
      STATEFUL_CANARY          = tostring(var.roll.canary)
      STATEFUL_VERIFY          = var.roll.verify == null ? "" : var.roll.verify
      STATEFUL_SOAK            = coalesce(var.roll.soak, "0s")
      STATEFUL_PRE_CHECK       = var.roll.pre_check == null ? "" : var.roll.pre_check
      STATEFUL_APP             = var.roll.app == null ? "" : var.roll.app
      STATEFUL_ON_FAILURE      = var.roll.on_failure
      STATEFUL_LOCK_WAIT       = var.roll.lock_wait
    },
    # Set only when given: the flags' own defaults otherwise.
    var.roll.app_port == null ? {} : { STATEFUL_APP_PORT = tostring(var.roll.app_port) },
    length(var.roll.skip_checks) == 0 ? {} : { STATEFUL_SKIP_CHECK = join(",", var.roll.skip_checks) },
    var.roll.command != null ? {} : { STATEFUL_ROLL_SCRIPT = local.roll_script },
  )
}
