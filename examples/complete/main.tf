# A VPC with a private subnet in each of three AZs, a NAT gateway for their
# way out, a security group and a three-node cluster: the original module's
# usage, plus the additions. It boots on a fresh account as written.

data "aws_availability_zones" "available" {
  state = "available"
}

data "aws_partition" "current" {}

# The latest Amazon Linux 2023 unless node_image pins one (a new image
# rolls the nodes: pin it for production).
data "aws_ami" "al2023" {
  most_recent = true
  owners      = ["amazon"]

  filter {
    name   = "name"
    values = ["al2023-ami-2023.*-x86_64"]
  }
}

locals {
  name = "stateful-complete"
  # Auto Scaling launches the instances with its service-linked role. The
  # role exists only once the account has used Auto Scaling (creating the
  # first group creates it), so the key policy names it in a condition,
  # which KMS does not check against existing principals: the key can be
  # created on a fresh account, before the role exists.
  autoscaling_role = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
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

# The nodes' way out: the agent's download (GitHub releases) and the AWS
# APIs (EC2, Auto Scaling, SSM, S3) go through one NAT gateway. Interface
# endpoints could replace it for the APIs, not for the download.
resource "aws_subnet" "public" {
  vpc_id            = aws_vpc.this.id
  cidr_block        = cidrsubnet(aws_vpc.this.cidr_block, 8, 100)
  availability_zone = local.azs[0]
  tags              = { Name = "${local.name}-public" }
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = local.name }
}

resource "aws_eip" "nat" {
  domain = "vpc"
  tags   = { Name = "${local.name}-nat" }
}

resource "aws_nat_gateway" "this" {
  allocation_id = aws_eip.nat.id
  subnet_id     = aws_subnet.public.id
  tags          = { Name = local.name }

  depends_on = [aws_internet_gateway.this]
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = "${local.name}-public" }
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  subnet_id      = aws_subnet.public.id
  route_table_id = aws_route_table.public.id
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = "${local.name}-private" }
}

resource "aws_route" "private_nat" {
  route_table_id         = aws_route_table.private.id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this.id
}

# The nodes take their subnets from here, so that no node boots before its
# way out exists (the agent's download would fail and the group retry).
resource "aws_route_table_association" "private" {
  count = 3

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route.private_nat.route_table_id
}

# S3 without the NAT's per-gigabyte charge (a gateway endpoint is free).
resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${var.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.private.id]
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
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      # Auto Scaling launches the instances, so its service-linked role
      # must be able to use the key for their encrypted root volumes, or
      # every launch fails with Client.InternalError. Named by
      # aws:PrincipalArn (see local.autoscaling_role), not as a Principal:
      # a Principal that does not exist yet fails the key's creation.
      {
        Sid       = "AutoScalingUsesTheKey"
        Effect    = "Allow"
        Principal = { AWS = "*" }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource  = "*"
        Condition = {
          StringEquals = { "kms:CallerAccount" = data.aws_caller_identity.current.account_id }
          ArnEquals    = { "aws:PrincipalArn" = local.autoscaling_role }
        }
      },
      {
        Sid       = "AutoScalingGrantsForVolumes"
        Effect    = "Allow"
        Principal = { AWS = "*" }
        Action    = "kms:CreateGrant"
        Resource  = "*"
        Condition = {
          Bool         = { "kms:GrantIsForAWSResource" = "true" }
          StringEquals = { "kms:CallerAccount" = data.aws_caller_identity.current.account_id }
          ArnEquals    = { "aws:PrincipalArn" = local.autoscaling_role }
        }
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
  description       = "Peers and the VPC's DNS"
  cidr_ipv4         = aws_vpc.this.cidr_block
  ip_protocol       = "-1"
}

# HTTPS out, through the NAT gateway or the S3 endpoint: the agent's
# download and every AWS API the agent and the SSM agent call.
#tfsec:ignore:aws-ec2-no-public-egress-sgr
resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.cluster.id
  description       = "HTTPS: the agent download and the AWS APIs"
  cidr_ipv4         = "0.0.0.0/0"
  from_port         = 443
  to_port           = 443
  ip_protocol       = "tcp"
}

module "cluster" {
  source = "../.."

  app_name      = local.name
  node_image    = coalesce(var.node_image, data.aws_ami.al2023.id)
  instance_type = "t3.medium"
  nodes = [for i, s in aws_subnet.private : {
    node_id        = format("%02d", i)
    node_ip        = cidrhost(s.cidr_block, 10)
    node_subnet_id = aws_route_table_association.private[i].subnet_id
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
