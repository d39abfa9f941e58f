variable "region" {
  description = "AWS region to create the example in."
  type        = string
  default     = "eu-west-1"
}

variable "node_image" {
  description = "AMI ID of the nodes: any stock Linux image with bash, curl and the user `ec2-user` (the module downloads its pinned `stateful` agent). Default: the latest Amazon Linux 2023 for x86_64 at plan time (a newer one rolls the nodes: pin it for production)."
  type        = string
  default     = null
}
