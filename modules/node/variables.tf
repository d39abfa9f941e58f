variable "name" {
  description = "Name of the node's group and launch template: `<app_name>-node-<node_id>`, the original module's."
  type        = string
}

variable "launch_hook_name" {
  description = "Name of the group's launch lifecycle hook (the original module's: `<app_name>-node-asg-hook`, the same in every group)."
  type        = string
}

variable "drain_hook_name" {
  description = "Name of the group's termination lifecycle hook, when `drain_on_termination` is set."
  type        = string
}

variable "drain_hook_timeout" {
  description = "Heartbeat timeout of the termination hook, in seconds (the drain heartbeats at a third of it)."
  type        = number
  default     = 600
}

variable "node_id" {
  description = "The node's id, the value of its `stateful:node-id` tag."
  type        = string
}

variable "node_ip" {
  description = "The node's fixed private IPv4 address, held by its ENI."
  type        = string
}

variable "subnet_id" {
  description = "Subnet of the node's ENI."
  type        = string
}

variable "availability_zone" {
  description = "AZ of the subnet: the group launches there and the data volume lives there."
  type        = string
}

variable "security_groups" {
  description = "Security group IDs of the node's ENI."
  type        = list(string)
  nullable    = false
}

variable "image_id" {
  description = "AMI ID of the node."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type of the node."
  type        = string
}

variable "key_name" {
  description = "Optional EC2 key pair name (null: none; SSM is the way in)."
  type        = string
  default     = null
}

variable "iam" {
  description = "What the node's own role is scoped by: `partition`, `region`, `account_id`, the cluster tag's key and value (`cluster_tag_key`, `cluster`), the S3 objects the node may read (`s3_objects`, ARNs), the volume key's ARN (`kms_key_arn`, or null), the secret parameters' key ARN (`secrets_kms_key_arn`, or null: the AWS managed aws/ssm key) `ssm_access` (`session-manager`, `managed` or `none`), the pinned S3 versions (`s3_object_versions`, object ARN to version ID: only that version may be read) and `vpc_only` (credentials refused outside the instance's VPC and address)."
  type = object({
    partition           = string
    region              = string
    account_id          = string
    cluster_tag_key     = string
    cluster             = string
    s3_objects          = list(string)
    kms_key_arn         = optional(string)
    secrets_kms_key_arn = optional(string)
    ssm_access          = string
    s3_object_versions  = optional(map(string), {})
    vpc_only            = optional(bool, false)
  })
  nullable = false
}

variable "secret_parameter_arns" {
  description = "ARNs of the SSM parameters this node's secret files come from: the only parameters its role may read."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "user_data" {
  description = "The node's rendered user data (plain text; the module base64-encodes it). Sensitive: it may carry the node files and the node script."
  type        = string
  sensitive   = true
}

variable "data_volume" {
  description = "The node's data volume: `size_in_gibs`, `type`, `iops`, `throughput_mib_per_sec`, `final_snapshot`, `tags` (other attributes are ignored)."
  type = object({
    size_in_gibs           = number
    type                   = string
    iops                   = optional(number)
    throughput_mib_per_sec = optional(number)
    final_snapshot         = optional(bool, true)
    tags                   = optional(map(string), {})
  })
}

variable "root_volume" {
  description = "The node's root volume: `device_name`, `size_in_gibs`, `type`."
  type = object({
    device_name  = string
    size_in_gibs = number
    type         = string
  })
}

variable "kms_key_arn" {
  description = "Optional KMS key ARN for the data and root volumes (the provider accepts only ARNs there)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || startswith(coalesce(var.kms_key_arn, "arn:"), "arn:")
    error_message = "The kms_key_arn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

variable "http_put_hop_limit" {
  description = "IMDSv2 PUT response hop limit."
  type        = number
  default     = 1
}

variable "hook_heartbeat_timeout" {
  description = "Heartbeat timeout of the launch hook, in seconds."
  type        = number
  default     = 3600
}

variable "drain_on_termination" {
  description = "Whether to add the termination hook the node agent's drain completes."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags of every resource, already including the cluster tag (`cluster_tag_key`)."
  type        = map(string)
  nullable    = false
}

variable "launch_tags" {
  description = "Tags the launch template puts on the instance and its root volume at creation; a change makes a new template version (and a roll)."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "default_tags" {
  description = "The provider's default tags, which the provider applies to neither groups nor launch-time tags: the group carries them and propagates them to its instances."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "cluster_tag_key" {
  description = "Key of the cluster tag (its value is in `tags`)."
  type        = string
  default     = "stateful:cluster"
}

variable "node_id_tag_key" {
  description = "Key of the node-id tag."
  type        = string
}

variable "volume_delete_timeout" {
  description = "How long Terraform waits for the data volume's deletion, final snapshot included (a duration such as `4h`)."
  type        = string
  default     = "4h"
}

variable "allow_volume_replacement" {
  description = "Let a plan replace the data volume (a blank one) when its availability zone or key changes; false refuses such a plan."
  type        = bool
  default     = false
  nullable    = false
}
