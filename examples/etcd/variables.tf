variable "region" {
  description = "AWS region of the cluster."
  type        = string
  default     = "eu-west-1"
}

variable "node_image" {
  description = "AMI ID of the nodes: it must hold etcd (the script installs Debian's etcd-server where apt-get exists), bash and curl; the module downloads its pinned `stateful` agent."
  type        = string
  default     = "ami-0123456789abcdef0"
}

variable "subnet_ids" {
  description = "Three private subnets, one per AZ, of an existing VPC."
  type        = list(string)
  default     = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1", "subnet-0123456789abcdef2"]

  validation {
    condition     = length(var.subnet_ids) == 3
    error_message = "The subnet_ids must list exactly three subnets, one per AZ."
  }
}

variable "security_group_ids" {
  description = "Security groups of the nodes: they must allow TCP 2379 and 2380 between the nodes."
  type        = list(string)
  default     = ["sg-0123456789abcdef0"]
}
