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

variable "instance_profile_name" {
  description = "Name of the instance profile the node runs with."
  type        = string
}

variable "user_data" {
  description = "The node's rendered user data (plain text; the module base64-encodes it)."
  type        = string
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

variable "kms_key_id" {
  description = "Optional KMS key ARN for the data and root volumes."
  type        = string
  default     = null
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
  description = "Tags of every resource, already including the cluster tag."
  type        = map(string)
  nullable    = false
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
