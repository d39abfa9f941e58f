variable "region" {
  description = "AWS region to create the example in."
  type        = string
  default     = "eu-west-1"
}

variable "node_image" {
  description = "AMI ID of the nodes: any stock Linux image with bash and curl (the module downloads its pinned `stateful` agent)."
  type        = string
  default     = "ami-0123456789abcdef0"
}
