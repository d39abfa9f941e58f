variable "region" {
  description = "AWS region of the cluster."
  type        = string
  default     = "eu-west-1"
}

variable "node_image" {
  description = "AMI ID of the nodes: it must hold ZooKeeper (the script installs Debian's zookeeperd where apt-get exists), bash and curl; the module downloads its pinned `stateful` agent."
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
  description = "Security groups of the nodes: they must allow TCP 2181, 2888 and 3888 between the nodes and 2181 from clients."
  type        = list(string)
  default     = ["sg-0123456789abcdef0"]
}
