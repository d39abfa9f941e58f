variable "app_name" {
  description = "Name of the cluster (for example `kafka-prod`). It prefixes every resource name and is the value of the `stateful:cluster` tag that `stateful` commands find the cluster by. 1 to 40 letters, digits and dashes."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9-]{0,39}$", var.app_name))
    error_message = "The app_name must be 1 to 40 letters, digits and dashes, starting with a letter."
  }
}

variable "nodes" {
  description = <<-EOT
    The cluster's nodes. Each has a `node_id` (unique, stable, not an index: it keys the node's resources), a fixed private `node_ip` inside `node_subnet_id` (not one of the five addresses AWS reserves in every subnet), and optionally its own `node_image` and `node_data_disk`: overrides of the cluster-wide data volume for this node, as strings (the original module's form), among `size_in_gibs`, `type`, `iops`, `throughput_mib_per_sec`, `device_name`, `mount_path`, `file_system_type`, `mount_path_owner_user` and `mount_path_owner_group`; for example `{ size_in_gibs = "100" }`.
  EOT
  type = set(object({
    node_id        = string
    node_ip        = string
    node_image     = optional(string)
    node_subnet_id = string
    node_data_disk = optional(map(string), {})
  }))
  nullable = false

  validation {
    condition     = length(var.nodes) > 0
    error_message = "The nodes list is empty: a cluster needs at least one node (three or more for a quorum that survives a node replacement)."
  }
  validation {
    condition     = length(distinct([for n in var.nodes : n.node_id])) == length(var.nodes)
    error_message = "Two nodes share a node_id: every node_id must be unique."
  }
  validation {
    # IAM role and profile names (which carry the node id) are
    # case-insensitive: "a1" and "A1" would be the same role.
    condition     = length(distinct([for n in var.nodes : lower(n.node_id)])) == length(distinct([for n in var.nodes : n.node_id]))
    error_message = "Two node_ids differ only in letter case: node ids must be unique ignoring case (IAM names, which carry them, are case-insensitive)."
  }
  validation {
    condition     = length(distinct([for n in var.nodes : n.node_ip])) == length(var.nodes)
    error_message = "Two nodes share a node_ip: every node needs its own fixed IP."
  }
  validation {
    condition     = alltrue([for n in var.nodes : can(regex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$", n.node_id))])
    error_message = "Every node_id must be 1 to 63 letters, digits, dots, dashes or underscores, starting with a letter or digit."
  }
  validation {
    condition     = alltrue([for n in var.nodes : !endswith(n.node_id, "-root")])
    error_message = "A node_id may not end in -root: that suffix names the node's root volume in its node-id tag."
  }
  validation {
    condition     = alltrue([for n in var.nodes : can(cidrnetmask("${n.node_ip}/32"))])
    error_message = "Every node_ip must be an IPv4 address such as 10.0.1.10."
  }
  validation {
    condition = alltrue([for n in var.nodes : length(setsubtract(keys(n.node_data_disk), [
      "size_in_gibs", "type", "iops", "throughput_mib_per_sec", "device_name", "mount_path", "file_system_type", "mount_path_owner_user", "mount_path_owner_group",
    ])) == 0])
    error_message = "A node_data_disk may override only size_in_gibs, type, iops, throughput_mib_per_sec, device_name, mount_path, file_system_type, mount_path_owner_user and mount_path_owner_group."
  }
  validation {
    condition = alltrue(flatten([for n in var.nodes : [
      for k in ["size_in_gibs", "iops", "throughput_mib_per_sec"] : can(tonumber(n.node_data_disk[k])) if contains(keys(n.node_data_disk), k)
    ]]))
    error_message = "A node_data_disk's size_in_gibs, iops and throughput_mib_per_sec must be whole numbers written as strings, such as \"100\"."
  }
}

variable "node_files" {
  description = <<-EOT
    Files to write on each node before its node script runs: a list of `{ node_id, node_files_toupload }`, where `node_files_toupload` lists `{ contents = <base64>, destination = "/absolute/path", mode = "0600", owner = "root", group = "root" }` objects (`mode` default `0600`, `owner` and `group` default `root`). A bare base64 string instead of an object, as in the original module's README example, is written to `/etc/stateful/node-files/<index>`. Files count against the 16 KB user-data limit. Sensitive, but their contents still travel in user data (readable through IMDS on the node and by whoever may describe launch templates): put secrets in `node_secret_files` instead.
  EOT
  # Typed loosely on purpose: items may be objects or bare strings (the
  # original README's form); the validations below check the shape.
  type      = any
  nullable  = false
  sensitive = true

  validation {
    condition = try(alltrue([for n in var.node_files : can(tostring(n.node_id)) && alltrue([
      for x in try(n.node_files_toupload, []) : can(tostring(x)) || (can(tostring(x.contents)) && can(tostring(x.destination)))
    ])]), false)
    error_message = "Each node_files entry needs a node_id and a node_files_toupload list of { contents = base64, destination = \"/path\", mode = \"0644\" } objects (or bare base64 strings)."
  }
  validation {
    condition     = try(length(distinct([for n in var.node_files : n.node_id])) == length(var.node_files), true)
    error_message = "Two node_files entries name the same node_id: list all of a node's files in one entry."
  }
  validation {
    condition     = try(alltrue(flatten([for n in var.node_files : [for x in try(n.node_files_toupload, []) : startswith(try(x.destination, "/"), "/")]])), true)
    error_message = "Every node file destination must be an absolute path such as /etc/app/app.conf."
  }
  validation {
    condition     = try(alltrue(flatten([for n in var.node_files : [for x in try(n.node_files_toupload, []) : can(base64decode(try(tostring(x), tostring(x.contents))))]])), true)
    error_message = "Every node file's contents must be base64 (use filebase64 or base64encode)."
  }
  validation {
    condition     = try(alltrue(flatten([for n in var.node_files : [for x in try(n.node_files_toupload, []) : can(regex("^0?[0-7]{3,4}$", try(x.mode, "0644")))]])), true)
    error_message = "Every node file mode must be octal, such as 0644 or 0600."
  }
  validation {
    condition     = try(alltrue(flatten([for n in var.node_files : [for x in try(n.node_files_toupload, []) : can(regex("^([a-z_][a-z0-9_-]{0,31}|[0-9]+)$", try(x.owner, "root"))) && can(regex("^([a-z_][a-z0-9_-]{0,31}|[0-9]+)$", try(x.group, "root")))]])), true)
    error_message = "Every node file owner and group must be a user or group name (lowercase letters, digits, _ and -, up to 32) or a number."
  }
}

variable "node_config_script" {
  sensitive   = true
  description = "Sensitive. Base64 of the node script (`filebase64(\"node.sh\")`): bash defining `configure_cluster_node NODE_ID NODE_IP` and `wait_for_healthy_cluster NODE_ID NODE_IP`, and optionally `drain_cluster_node NODE_ID NODE_IP`. Optional when `node_config_script_s3_url` is set, and then the fallback; at least one of the two is required."
  type        = string
  default     = null

  validation {
    condition     = var.node_config_script == null || can(base64decode(var.node_config_script))
    error_message = "The node_config_script must be base64: pass filebase64(\"your_script.sh\")."
  }
}

variable "node_config_script_s3_url" {
  description = "Optional `s3://bucket/key` of the node script. The agent fetches it first and falls back to `node_config_script`; keeps large scripts out of user data. It runs as root, so `node_config_script_s3` must give its sha256."
  type        = string
  default     = null

  validation {
    condition     = var.node_config_script_s3_url == null || can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+", var.node_config_script_s3_url))
    error_message = "The node_config_script_s3_url must look like s3://bucket/key."
  }
}

variable "node_config_script_s3" {
  description = "How the agent checks the node script it fetches from `node_config_script_s3_url` (required with it: the script runs as root): `sha256` (64 lowercase hex digits; an object with another sum is refused and the inline `node_config_script` used, if any), `expected_bucket_owner` (the account ID that must own the bucket, default this cluster's account: a bucket deleted and re-created by another account is refused) and optionally `version_id` (that version of the object only)."
  type = object({
    sha256                = string
    expected_bucket_owner = optional(string)
    version_id            = optional(string)
  })
  default = null

  validation {
    condition     = var.node_config_script_s3 == null || can(regex("^[0-9a-f]{64}$", var.node_config_script_s3.sha256))
    error_message = "The node_config_script_s3.sha256 must be the 64 lowercase hex digits of the script's SHA-256."
  }
  validation {
    condition     = var.node_config_script_s3 == null || can(regex("^[0-9]{12}$", coalesce(var.node_config_script_s3.expected_bucket_owner, "000000000000")))
    error_message = "The node_config_script_s3.expected_bucket_owner must be a 12-digit AWS account ID."
  }
  validation {
    condition     = var.node_config_script_s3 == null || can(regex("^[A-Za-z0-9._-]{1,1000}$", coalesce(var.node_config_script_s3.version_id, "x")))
    error_message = "The node_config_script_s3.version_id must be an S3 version ID (letters, digits, . _ -)."
  }
}

variable "default_data_volume" {
  description = <<-EOT
    Each node's EBS data volume (the original module's name; `data_volume` is accepted instead, not both). `size_in_gibs`; `type` (`gp2`, `gp3`, `io1`, `io2`, `st1`, `sc1`); `iops` (gp3, io1, io2; required by io1 and io2) and `throughput_mib_per_sec` (gp3 only); `device_name` asked for at attach (default `/dev/sdf`; Nitro instances ignore it); `mount_path`; `file_system_type` (`ext4` or `xfs`, used only to format a blank volume); `mount_params` (mount options such as `noatime`); `mount_path_owner_user` and `mount_path_owner_group` (chown of the mount root); `tags`; and, beyond the original, `recursive_chown` (default false) and `final_snapshot` (default true: a snapshot is taken when Terraform deletes the volume). A node's `node_data_disk` overrides these settings for that node.
  EOT
  type = object({
    device_name            = optional(string, "/dev/sdf")
    size_in_gibs           = number
    type                   = string
    iops                   = optional(number)
    throughput_mib_per_sec = optional(number)
    mount_path             = string
    file_system_type       = string
    mount_params           = optional(list(string), [])
    mount_path_owner_user  = string
    mount_path_owner_group = string
    tags                   = optional(map(string), {})
    recursive_chown        = optional(bool, false)
    final_snapshot         = optional(bool, true)
  })
  default = null
}

variable "data_volume" {
  description = "The older name of `default_data_volume` (the original module's README before v0.6.0), with the same type and meaning. Set one of the two, not both."
  type = object({
    device_name            = optional(string, "/dev/sdf")
    size_in_gibs           = number
    type                   = string
    iops                   = optional(number)
    throughput_mib_per_sec = optional(number)
    mount_path             = string
    file_system_type       = string
    mount_params           = optional(list(string), [])
    mount_path_owner_user  = string
    mount_path_owner_group = string
    tags                   = optional(map(string), {})
    recursive_chown        = optional(bool, false)
    final_snapshot         = optional(bool, true)
  })
  default = null
}

variable "node_image" {
  description = "AMI ID of the nodes (per-node `node_image` overrides it). Any Linux with bash and systemd: Amazon Linux 2 and 2023, Ubuntu, Debian, RHEL-family."
  type        = string

  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.node_image))
    error_message = "The node_image must be an AMI ID such as ami-0123456789abcdef0."
  }
}

variable "node_key_name" {
  description = "Optional EC2 key pair for SSH. Nodes are reachable through SSM Session Manager without one."
  type        = string
  default     = null
}

variable "instance_type" {
  description = "EC2 instance type of the nodes, such as `m6i.large`."
  type        = string
}

variable "security_groups" {
  description = "Security group IDs of the nodes' network interfaces."
  type        = list(string)
  nullable    = false
}

variable "asg_inservice_timeout_in_mins" {
  description = "Minutes the rolling update waits for each replaced node to be back in service (and for the cluster to be ready before it starts), 1 to 1440."
  type        = number
  default     = 10

  validation {
    condition     = var.asg_inservice_timeout_in_mins >= 1 && var.asg_inservice_timeout_in_mins <= 1440
    error_message = "The asg_inservice_timeout_in_mins must be between 1 and 1440 minutes."
  }
}

variable "asg_lifecycle_hook_heartbeat_timeout" {
  description = "Seconds a new instance may stay in Pending:Wait without a heartbeat from its agent before Auto Scaling abandons it, 30 to 7200. Changing it updates every group's hook in place (see README)."
  type        = number
  default     = 3600

  validation {
    condition     = var.asg_lifecycle_hook_heartbeat_timeout >= 30 && var.asg_lifecycle_hook_heartbeat_timeout <= 7200
    error_message = "The asg_lifecycle_hook_heartbeat_timeout must be between 30 and 7200 seconds, the range Auto Scaling accepts."
  }
}

variable "command_timeout_seconds" {
  description = "Seconds the agent gives the node script (configure_cluster_node then wait_for_healthy_cluster) before it gives up, 60 to 172800."
  type        = number
  default     = 1800

  validation {
    condition     = var.command_timeout_seconds >= 60 && var.command_timeout_seconds <= 172800
    error_message = "The command_timeout_seconds must be between 60 and 172800 seconds."
  }
}

variable "http_put_response_hop_limit" {
  description = "IMDSv2 PUT response hop limit, 1 to 64 (2 when containers on the node need instance metadata)."
  type        = number
  default     = 1

  validation {
    condition     = var.http_put_response_hop_limit >= 1 && var.http_put_response_hop_limit <= 64
    error_message = "The http_put_response_hop_limit must be between 1 and 64."
  }
}

variable "root_volume" {
  description = "Root volume of the nodes: `device_name` (the AMI's root device), `size_in_gibs`, `type`. Encrypted, deleted with the instance."
  type = object({
    device_name  = string
    size_in_gibs = number
    type         = string
  })
  default = {
    device_name  = "/dev/xvda"
    size_in_gibs = 16
    type         = "gp3"
  }

  validation {
    condition     = var.root_volume.size_in_gibs >= 1 && var.root_volume.size_in_gibs <= 16384 && contains(["gp2", "gp3", "io1", "io2", "standard"], var.root_volume.type)
    error_message = "The root_volume needs size_in_gibs between 1 and 16384 and a type among gp2, gp3, io1, io2 and standard."
  }
}

# Accepted for compatibility with the original module, and ignored.
# tflint-ignore: terraform_unused_declarations
variable "jq_download_url" {
  description = "Unused: kept so configurations written for the original module still work. The node agent needs no jq."
  type        = string
  default     = "https://github.com/stedolan/jq/releases/download/jq-1.6/jq-linux64"
}

variable "tags" {
  description = "Tags for every resource the module creates. The groups carry them with the provider's default tags and propagate both to each instance at launch; the data volumes, ENIs and IAM resources carry them (and the provider adds its default tags). Launch templates and the root volumes they create carry only the module's identifying tags, so a tag edit makes no launch-template version and rolls no node."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "launch_tags" {
  description = "Tags the launch templates put on instances and their root volumes as they are created (`tag_specifications`), for what needs them at creation: an SCP that refuses untagged `ec2:RunInstances` or `ec2:CreateVolume`, or cost allocation of root volumes (Auto Scaling propagates no tag to volumes). Unlike `tags`, changing them makes a new launch-template version for every node and so a roll: keep here only tags that seldom change."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "kms_key_id" {
  description = "Optional KMS key for the data and root volumes (default: the account's EBS key), as a key ARN (`arn:aws:kms:REGION:ACCOUNT:key/ID`) or a key ID (the module passes on its ARN, in the nodes' region and account: the provider accepts only ARNs). Setting or changing it on an existing cluster replaces every data volume, which the module refuses unless `allow_data_volume_replacement` is set. Not an alias: EC2 records the key an alias points to, so an alias would replace every volume on every apply. The node role may use only this key, and the key's policy must let the Auto Scaling service-linked role (`AWSServiceRoleForAutoScaling`) use it, or launches fail with `Client.InternalError` (see examples/complete)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_id == null || can(regex("^(arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/)?(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$", var.kms_key_id))
    error_message = "The kms_key_id must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID) or key ID, not an alias: an alias would make every volume replace on every apply."
  }
}

variable "agent" {
  description = <<-EOT
    Where each node gets the `stateful` agent binary. Default (`{}`): the release this module pins (`release.tf`), downloaded from `base_url` (default `https://github.com/stateful-aws/stateful/releases/download`; a mirror such as an S3 bucket's or an artifact store's HTTPS URL with the same layout, `<base_url>/v<version>/stateful-linux-<amd64|arm64>`) and checked against the pinned sha256 of the node's architecture. Instead, set one of: `url` with its `sha256` (your own build; `{arch}` in the URL becomes amd64 or arm64, and one sha256 must then match both), `s3_uri` (`s3://bucket/key`, fetched with the instance role) with its `sha256` (required: the agent runs as root), `expected_bucket_owner` (the account that must own the bucket, default this cluster's) and optionally `version_id`, or `path` (already in the image). `version` is a label written into the user data: changing it changes every node's launch template, so the nodes roll. URLs and paths may not contain quotes, spaces or backslashes.
  EOT
  type = object({
    base_url              = optional(string)
    url                   = optional(string)
    sha256                = optional(string)
    s3_uri                = optional(string)
    expected_bucket_owner = optional(string)
    version_id            = optional(string)
    path                  = optional(string)
    version               = optional(string, "")
  })
  default  = {}
  nullable = false

  validation {
    condition     = length([for s in [var.agent.url, var.agent.s3_uri, var.agent.path] : s if s != null]) <= 1
    error_message = "Set at most one of agent.url, agent.s3_uri and agent.path (none: the pinned release)."
  }
  validation {
    condition     = var.agent.base_url == null || (var.agent.url == null && var.agent.s3_uri == null && var.agent.path == null)
    error_message = "The agent.base_url is where the pinned release is downloaded from; it cannot be combined with agent.url, agent.s3_uri or agent.path."
  }
  validation {
    condition     = var.agent.base_url == null || can(regex("^https?://[A-Za-z0-9._~:/@%+=-]+$", var.agent.base_url))
    error_message = "The agent.base_url must be an http or https URL of letters, digits and . _ ~ : / @ % + = - only (no quotes, spaces, query or fragment), such as https://artifacts.example.com/stateful."
  }
  validation {
    condition     = var.agent.url == null || can(regex("^https?://[A-Za-z0-9._~:/?#@!$&()*+,;={}%-]+$", var.agent.url))
    error_message = "The agent.url must be an http or https URL without quotes, spaces or backslashes, such as https://example.com/stateful-linux-{arch}."
  }
  validation {
    condition     = var.agent.url == null || can(regex("^[0-9a-f]{64}$", var.agent.sha256))
    error_message = "An agent.url needs agent.sha256, the 64 lowercase hex digits of the binary's SHA-256."
  }
  validation {
    condition     = var.agent.sha256 == null || var.agent.url != null || var.agent.s3_uri != null
    error_message = "The agent.sha256 checks an agent.url or agent.s3_uri: set one of them too, or neither (the pinned release carries its own checksums)."
  }
  validation {
    condition     = var.agent.s3_uri == null || can(regex("^[0-9a-f]{64}$", var.agent.sha256))
    error_message = "An agent.s3_uri needs agent.sha256, the 64 lowercase hex digits of the binary's SHA-256: the agent runs as root, and whoever can write the object would otherwise own every new node."
  }
  validation {
    condition     = (var.agent.expected_bucket_owner == null && var.agent.version_id == null) || var.agent.s3_uri != null
    error_message = "The agent.expected_bucket_owner and agent.version_id apply to agent.s3_uri: set it too, or neither."
  }
  validation {
    condition     = var.agent.expected_bucket_owner == null || can(regex("^[0-9]{12}$", var.agent.expected_bucket_owner))
    error_message = "The agent.expected_bucket_owner must be a 12-digit AWS account ID."
  }
  validation {
    condition     = var.agent.version_id == null || can(regex("^[A-Za-z0-9._-]{1,1000}$", var.agent.version_id))
    error_message = "The agent.version_id must be an S3 version ID (letters, digits, . _ -)."
  }
  validation {
    condition     = var.agent.s3_uri == null || can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[A-Za-z0-9!_.*()/+=,@-]+$", var.agent.s3_uri))
    error_message = "The agent.s3_uri must look like s3://bucket/key, the key made of letters, digits and ! _ . * ( ) / + = , @ - only."
  }
  validation {
    condition     = var.agent.path == null || can(regex("^/[A-Za-z0-9._/+-]+$", var.agent.path))
    error_message = "The agent.path must be an absolute path of letters, digits and . _ / + - only, such as /usr/local/bin/stateful."
  }
  validation {
    condition     = can(regex("^[A-Za-z0-9._+-]{0,64}$", var.agent.version))
    error_message = "The agent.version label must be up to 64 letters, digits and . _ + - (it is written into the user data)."
  }
}

variable "node_failure_policy" {
  description = "What the agent does when a node fails to come up: `abandon` (complete the launch hook with ABANDON at once, so the group tries a fresh instance) or `hold` (leave it in Pending:Wait until the hook times out, for debugging). A failure a relaunch cannot fix (a configuration error such as an unknown owner, a refused data volume) is always held, so the group does not relaunch it every few seconds (docs/agent.md)."
  type        = string
  default     = "abandon"

  validation {
    condition     = contains(["abandon", "hold"], var.node_failure_policy)
    error_message = "The node_failure_policy must be abandon or hold."
  }
}

variable "drain_on_termination" {
  description = "Add a termination lifecycle hook: a terminating node runs `stateful node drain` (the script's optional drain_cluster_node, unmount, detach) so its replacement gets the volume at once. A node removed from `nodes` then drains before Terraform deletes it (`stateful remove-node`, run where Terraform runs, with the roll's credentials). On an upgrade from v0.8.0 it can be set in the same apply: the roll completes the hook itself for the original's instances, which have no agent to drain them."
  type        = bool
  default     = false
}

variable "roll" {
  description = <<-EOT
    The rolling update run after every change of what a node runs with (image, instance type, user data and agent, profile, root volume, key; never a tag edit): `enabled` (default true), and `command` to run instead of the default, `stateful roll` of the release the module pins (the stateful on the PATH or in the cache when its sha256 is the pinned one, else downloaded for the runner and checked against it: a shell, curl and mktemp are all it needs). It rolls the whole cluster (`--cluster`, the app_name) in the module's region, and refuses to touch anything when the credentials it has reach another account than the module's (STS GetCallerIdentity). The environment carries STATEFUL_CLUSTER, AWS_REGION, STATEFUL_REGION, STATEFUL_EXPECT_ACCOUNT, STATEFUL_TIMEOUT and the settings below.
    Credentials: `local-exec` sees only the environment Terraform runs in, never the provider block's `assume_role`, `profile` or dynamic credentials. `profile` names a shared-config profile (STATEFUL_PROFILE) and `role_arn` a role to assume (STATEFUL_ROLE_ARN) with the runner's credentials, at most one of the two; neither: the runner's own credentials.
    The roll's budget and checks, passed as STATEFUL_<FLAG> variables: `max_unavailable`, the most nodes out of service at once, a whole number of at least 1 or `"zone"` (a whole zone, with `by_zone`; default `"1"`); `by_zone`, replace one availability zone at a time (default false); `pre_check`, a bash command that must pass before each node's termination (retried until the timeout; it gets STATEFUL_NODE_ID and STATEFUL_NODE_IP); `canary`, nodes replaced first (default 0); `verify`, a bash command that must pass after the canary (needs `canary`); `soak`, how long to wait after the canary passed, a Go duration such as `"10m"` (needs `canary`).
    The application's built-in checks (STATEFUL_APP...): `app`, `"etcd"`, `"zookeeper"` or `"kafka"`: before each termination the cluster is healthy by the application's own measure, after each replacement the new member has caught up, and the leader goes last (etcd's leadership is handed over first); the release binary the default roll runs carries the ZooKeeper check only, so `"etcd"` and `"kafka"` need `command` naming a full `stateful` build (make build); `app_port`, the client port on every node (default the application's); `skip_checks`, check names not to run; `on_failure`, `"stop"` (default) or `"rollback"` (a node whose replacement fails goes back to its last good launch-template version, with its own volume and IP, and the roll stops). `lock_wait`, how long a roll waits for another command's cluster lock (a second apply's roll while one runs) before it refuses, a Go duration (default `"15m"`).
    A budget that leaves fewer nodes in service than a majority is refused unless STATEFUL_ALLOW_QUORUM_LOSS=true is in the environment Terraform runs in.
  EOT
  type = object({
    enabled         = optional(bool, true)
    command         = optional(string)
    profile         = optional(string)
    role_arn        = optional(string)
    max_unavailable = optional(string, "1")
    by_zone         = optional(bool, false)
    pre_check       = optional(string)
    canary          = optional(number, 0)
    verify          = optional(string)
    soak            = optional(string)
    app             = optional(string)
    app_port        = optional(number)
    skip_checks     = optional(list(string), [])
    on_failure      = optional(string, "stop")
    lock_wait       = optional(string, "15m")
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.roll.app == null || contains(["etcd", "zookeeper", "kafka"], coalesce(var.roll.app, "-"))
    error_message = "The roll.app must be \"etcd\", \"zookeeper\" or \"kafka\" (or unset)."
  }
  validation {
    condition     = !contains(["etcd", "kafka"], coalesce(var.roll.app, "-")) || var.roll.command != null
    error_message = "The roll.app = \"etcd\" or \"kafka\" needs roll.command naming a full stateful build (the release binary the default roll runs carries the ZooKeeper check only)."
  }
  validation {
    condition     = contains(["stop", "rollback"], var.roll.on_failure)
    error_message = "The roll.on_failure must be \"stop\" or \"rollback\"."
  }
  validation {
    condition     = var.roll.app_port == null || (coalesce(var.roll.app_port, 1) >= 1 && coalesce(var.roll.app_port, 1) <= 65535 && floor(coalesce(var.roll.app_port, 1)) == coalesce(var.roll.app_port, 1))
    error_message = "The roll.app_port must be a whole port number from 1 to 65535."
  }
  validation {
    condition     = can(regex("^([0-9]+(h|m|s))+$", var.roll.lock_wait))
    error_message = "The roll.lock_wait must be a Go duration such as \"15m\" or \"0s\"."
  }

  validation {
    condition     = can(regex("^[1-9][0-9]*$", var.roll.max_unavailable)) || var.roll.max_unavailable == "zone"
    error_message = "The roll.max_unavailable must be a whole number of at least 1 or \"zone\"."
  }
  validation {
    condition     = var.roll.max_unavailable != "zone" || var.roll.by_zone
    error_message = "The roll.max_unavailable = \"zone\" needs roll.by_zone = true."
  }
  validation {
    condition     = var.roll.canary >= 0 && floor(var.roll.canary) == var.roll.canary
    error_message = "The roll.canary must be a whole number of nodes, 0 or more."
  }
  validation {
    condition     = var.roll.canary > 0 || (var.roll.verify == null && var.roll.soak == null)
    error_message = "The roll.verify and roll.soak apply to the canary: set roll.canary as well."
  }
  validation {
    condition     = var.roll.verify == null || trimspace(coalesce(var.roll.verify, " ")) != ""
    error_message = "The roll.verify must be a command, not an empty string."
  }
  validation {
    condition     = var.roll.pre_check == null || trimspace(coalesce(var.roll.pre_check, " ")) != ""
    error_message = "The roll.pre_check must be a command, not an empty string."
  }
  validation {
    condition     = var.roll.soak == null || can(regex("^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$", var.roll.soak))
    error_message = "The roll.soak must be a duration such as \"30s\", \"10m\" or \"1h30m\"."
  }
  validation {
    condition     = var.roll.profile == null || var.roll.role_arn == null
    error_message = "Set at most one of roll.profile and roll.role_arn (the role is assumed with the runner's own credentials)."
  }
  validation {
    condition     = var.roll.profile == null || can(regex("^[A-Za-z0-9_.@+-]{1,64}$", coalesce(var.roll.profile, "x")))
    error_message = "The roll.profile must be a shared-config profile name: 1 to 64 letters, digits and _ . @ + -."
  }
  validation {
    condition     = var.roll.role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$", coalesce(var.roll.role_arn, "x")))
    error_message = "The roll.role_arn must be an IAM role ARN such as arn:aws:iam::123456789012:role/deploy."
  }
}

variable "ssm_access" {
  description = "How nodes may be reached through AWS Systems Manager: `session-manager` (default: only what Session Manager needs, `ssm:UpdateInstanceInformation` and the four `ssmmessages` channel calls, and no `ssm:GetParameter*`), `managed` (the AWS managed policy `AmazonSSMManagedInstanceCore`, which also reads every parameter of the account and region) or `none`."
  type        = string
  default     = "session-manager"
  nullable    = false

  validation {
    condition     = contains(["session-manager", "managed", "none"], var.ssm_access)
    error_message = "The ssm_access must be session-manager, managed or none."
  }
}

variable "keep_original_role" {
  description = "Keep the original module's shared role `<app_name>-role`, its instance profile and its policy (v0.8.0). Unset (default): kept when a role of that name exists, as after an upgrade from the original (the apply deletes nothing an instance launched by the original still runs with; looked up with `iam:ListRoles`), and none for a new cluster. Nodes launched by this module run with their own roles, so once `stateful roll` has replaced every node set it to false to delete them; true keeps (or creates) it."
  type        = bool
  default     = null
}

variable "node_secret_files" {
  description = "Secret files, written by the agent from SSM Parameter Store so that their contents never enter user data, Terraform state or plans: a list of `{ node_id, parameter, destination, mode, owner, group }`, where `parameter` is a SecureString's name (`/kafka/tls.key`) or ARN, decrypted by the agent on the node (its role may read only its own nodes' parameters); `mode` defaults to `0600`, `owner` and `group` to `root`. The parameter's value is the file's contents, as is (not base64)."
  type = list(object({
    node_id     = string
    parameter   = string
    destination = string
    mode        = optional(string, "0600")
    owner       = optional(string, "root")
    group       = optional(string, "root")
  }))
  default  = []
  nullable = false

  validation {
    condition     = alltrue([for f in var.node_secret_files : can(regex("^(arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter)?/?[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", f.parameter))])
    error_message = "Each node_secret_files parameter must be an SSM parameter name of letters, digits and _ . - separated by / (such as /kafka/tls.key) or its ARN."
  }
  validation {
    condition     = alltrue([for f in var.node_secret_files : can(regex("^(/[A-Za-z0-9_.@+-]+)+$", f.destination)) && !can(regex("/\\.\\.?(/|$)", f.destination))])
    error_message = "Each node_secret_files destination must be an absolute path of letters, digits and _ . @ + - (no . or .. components), such as /etc/kafka/tls.key."
  }
  validation {
    condition     = alltrue([for f in var.node_secret_files : can(regex("^0?[0-7]{3,4}$", f.mode))])
    error_message = "Each node_secret_files mode must be an octal mode such as 0600."
  }
  validation {
    condition     = alltrue([for f in var.node_secret_files : can(regex("^([a-z_][a-z0-9_-]{0,31}|[0-9]+)$", f.owner)) && can(regex("^([a-z_][a-z0-9_-]{0,31}|[0-9]+)$", f.group))])
    error_message = "Each node_secret_files owner and group must be a user or group name (lowercase letters, digits, _ and -, up to 32) or a number."
  }
}

variable "secret_files_kms_key_id" {
  description = "Optional customer managed KMS key of the node_secret_files parameters, as a key ARN or ID (default: the AWS managed key `aws/ssm`, which needs no grant). Each node's role may decrypt with it only through SSM (`kms:ViaService`)."
  type        = string
  default     = null

  validation {
    condition     = var.secret_files_kms_key_id == null || can(regex("^(arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/)?(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$", var.secret_files_kms_key_id))
    error_message = "The secret_files_kms_key_id must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID) or key ID."
  }
}

variable "node_credentials_vpc_only" {
  description = "Refuse the node roles' credentials outside the instance's own VPC and private address (AWS's `aws:ec2InstanceSourceVPC` and `aws:ec2InstanceSourcePrivateIPv4` statements): credentials copied off a node then work nowhere else. Only for VPCs whose nodes reach EC2, Auto Scaling, SSM, S3 and KMS through VPC endpoints (the keys `aws:SourceVpc` and `aws:VpcSourceIp` exist only there); elsewhere every call of the nodes would be refused."
  type        = bool
  default     = false
  nullable    = false
}

variable "data_volume_noexec" {
  description = "Mount every data volume `noexec` too (it is always mounted `nosuid,nodev`, so setuid binaries and device nodes a previous instance left there have no effect): no file on the volume can be executed."
  type        = bool
  default     = false
  nullable    = false
}

variable "data_volume_offline_repair" {
  description = "Let the agent run `e2fsck -f -p` and `resize2fs` as root on an ext4 data volume that is smaller than its device before mounting it. Off by default: the filesystem was last written by the previous instance, which may have been compromised, and a crafted filesystem can attack the root-run tools. Without it ext4 grows online through the kernel (EXT4_IOC_RESIZE_FS) and xfs with xfs_growfs, and an ext4 volume the kernel cannot grow online keeps its size (the agent logs it)."
  type        = bool
  default     = false
  nullable    = false
}

variable "allow_data_volume_replacement" {
  description = "Let a plan replace data volumes (default false). Changing what AWS cannot change on an existing volume (its availability zone, when a node moves to another zone's subnet, or its `kms_key_id`) makes Terraform delete the volume and create a blank one; the module refuses such a plan, naming the nodes, unless this is true. Restore from the final snapshot (`final_snapshot`) or copy the data yourself: the new volume starts empty."
  type        = bool
  default     = false
  nullable    = false
}
