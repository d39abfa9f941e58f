variable "region" {
  description = "AWS region to create the example in."
  type        = string
  default     = "eu-west-1"
}

variable "node_image" {
  description = "AMI ID of the nodes, with the `stateful` agent at /usr/local/bin/stateful (or set `agent` in main.tf)."
  type        = string
  default     = "ami-0123456789abcdef0"
}
