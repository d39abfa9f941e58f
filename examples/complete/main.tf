# A VPC with a private subnet in each of three AZs, a security group and a
# three-node cluster: the original module's usage, plus the additions.

data "aws_availability_zones" "available" {
  state = "available"
}

locals {
  name             = "stateful-complete"
  autoscaling_role = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
  azs              = slice(data.aws_availability_zones.available.names, 0, 3)
}

resource "aws_vpc" "this" {
  cidr_block           = "10.42.0.0/16"
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = local.name }
}

resource "aws_subnet" "private" {
  count = 3

  vpc_id            = aws_vpc.this.id
  cidr_block        = cidrsubnet(aws_vpc.this.cidr_block, 8, count.index)
  availability_zone = local.azs[count.index]
  tags              = { Name = "${local.name}-${local.azs[count.index]}" }
}

# Flow logs of the VPC, kept a week.
resource "aws_cloudwatch_log_group" "flow" {
  name              = "/vpc/${local.name}/flow"
  retention_in_days = 7
  kms_key_id        = aws_kms_key.this.arn
}

resource "aws_iam_role" "flow" {
  name_prefix = "${local.name}-flow-"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "sts:AssumeRole", Principal = { Service = "vpc-flow-logs.amazonaws.com" } }]
  })
}

# Log streams are named by the flow-log service, so the grant covers the
# streams of this one log group.
#tfsec:ignore:aws-iam-no-policy-wildcards
resource "aws_iam_role_policy" "flow" {
  role = aws_iam_role.flow.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      Resource = "${aws_cloudwatch_log_group.flow.arn}:*"
    }]
  })
}

resource "aws_flow_log" "this" {
  vpc_id          = aws_vpc.this.id
  traffic_type    = "ALL"
  log_destination = aws_cloudwatch_log_group.flow.arn
  iam_role_arn    = aws_iam_role.flow.arn
}

data "aws_caller_identity" "current" {}

# One key for the volumes and the logs.
resource "aws_kms_key" "this" {
  description         = "${local.name} volumes and logs"
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "Account"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      # Auto Scaling launches the instances, so its service-linked role
      # must be able to use the key for their encrypted root volumes, or
      # every launch fails with Client.InternalError. (The role exists once
      # the account has used Auto Scaling; in a fresh account create it
      # first: aws iam create-service-linked-role --aws-service-name
      # autoscaling.amazonaws.com.)
      {
        Sid       = "AutoScalingUsesTheKey"
        Effect    = "Allow"
        Principal = { AWS = local.autoscaling_role }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource  = "*"
      },
      {
        Sid       = "AutoScalingGrantsForVolumes"
        Effect    = "Allow"
        Principal = { AWS = local.autoscaling_role }
        Action    = "kms:CreateGrant"
        Resource  = "*"
        Condition = { Bool = { "kms:GrantIsForAWSResource" = "true" } }
      },
      {
        Sid       = "Logs"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
      },
    ]
  })
}

resource "aws_security_group" "cluster" {
  name_prefix = "${local.name}-"
  description = "Nodes of ${local.name}"
  vpc_id      = aws_vpc.this.id
}

resource "aws_vpc_security_group_ingress_rule" "peers" {
  security_group_id            = aws_security_group.cluster.id
  description                  = "The nodes talk to each other"
  referenced_security_group_id = aws_security_group.cluster.id
  ip_protocol                  = "-1"
}

resource "aws_vpc_security_group_egress_rule" "in_vpc" {
  security_group_id = aws_security_group.cluster.id
  description       = "Peers and the VPC's endpoints"
  cidr_ipv4         = aws_vpc.this.cidr_block
  ip_protocol       = "-1"
}

module "cluster" {
  source = "../.."

  app_name      = local.name
  node_image    = var.node_image
  instance_type = "t3.medium"
  nodes = [for i, s in aws_subnet.private : {
    node_id        = format("%02d", i)
    node_ip        = cidrhost(s.cidr_block, 10)
    node_subnet_id = s.id
  }]
  node_files = [for i in range(3) : {
    node_id             = format("%02d", i)
    node_files_toupload = [{ contents = base64encode("node=${format("%02d", i)}\n"), destination = "/etc/app/node.conf" }]
  }]
  node_config_script = filebase64("${path.module}/node_config_script.sh")
  security_groups    = [aws_security_group.cluster.id]
  default_data_volume = {
    file_system_type       = "xfs"
    mount_path             = "/mydata"
    mount_path_owner_user  = "ec2-user"
    mount_path_owner_group = "ec2-user"
    size_in_gibs           = 16
    type                   = "gp3"
    mount_params           = ["noatime"]
  }
  kms_key_id = aws_kms_key.this.arn
  tags       = { Environment = "example" }
}
