# The role, its profile and its policy keep the original module's (v0.8.0)
# names, and the moved blocks below its addresses: an upgraded cluster
# updates them in place, so no running instance loses its profile or its
# role's credentials during the apply (its agent needs them to drain).
moved {
  from = aws_iam_role.node_role
  to   = aws_iam_role.node
}

moved {
  from = aws_iam_instance_profile.node_instance_profile
  to   = aws_iam_instance_profile.node
}

moved {
  from = aws_iam_role_policy_attachment.ssm_policy
  to   = aws_iam_role_policy_attachment.ssm
}

moved {
  from = aws_iam_policy.node_policy
  to   = aws_iam_policy.node
}

moved {
  from = aws_iam_role_policy_attachment.instance_userdata_policy
  to   = aws_iam_role_policy_attachment.node
}

resource "aws_iam_role" "node" {
  name        = "${var.app_name}-role"
  description = "Nodes of stateful cluster ${var.app_name}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "ec2.amazonaws.com" }
    }]
  })
  tags = local.tags
}

resource "aws_iam_instance_profile" "node" {
  name = "${var.app_name}-instance-profile"
  role = aws_iam_role.node.name
  tags = local.tags
}

# SSM Session Manager is the way into a node.
resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.node.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

locals {
  # S3 objects the nodes may read: the node script and the agent binary.
  s3_objects = compact([
    var.node_config_script_s3_url == null ? "" : "arn:${local.partition}:s3:::${trimprefix(var.node_config_script_s3_url, "s3://")}",
    var.agent.s3_uri == null ? "" : "arn:${local.partition}:s3:::${trimprefix(var.agent.s3_uri, "s3://")}",
  ])

  this_cluster = {
    StringEquals = { "aws:ResourceTag/${local.cluster_tag_key}" = var.app_name }
  }

  # Exactly what the node agent calls (internal/agent; a Go test checks
  # the two agree), scoped to this cluster wherever IAM allows it.
  node_policy_statements = concat(
    [
      {
        # These calls support no resource-level permissions.
        Sid      = "Describe"
        Effect   = "Allow"
        Action   = ["ec2:DescribeVolumes", "ec2:DescribeInstances", "autoscaling:DescribeAutoScalingInstances"]
        Resource = "*"
      },
      {
        Sid       = "AttachThisClustersVolumes"
        Effect    = "Allow"
        Action    = ["ec2:AttachVolume", "ec2:DetachVolume"]
        Resource  = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:volume/*"
        Condition = local.this_cluster
      },
      {
        Sid       = "ToThisClustersInstances"
        Effect    = "Allow"
        Action    = ["ec2:AttachVolume", "ec2:DetachVolume"]
        Resource  = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:instance/*"
        Condition = local.this_cluster
      },
      {
        # One pattern and a tag condition, not a list of groups: the policy
        # stays the same size (IAM allows 10 KB inline) whatever the node count.
        Sid      = "ThisClustersLifecycleHooks"
        Effect   = "Allow"
        Action   = ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"]
        Resource = "arn:${local.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${var.app_name}-node-*"
        Condition = {
          StringEquals = { "autoscaling:ResourceTag/${local.cluster_tag_key}" = var.app_name }
        }
      },
    ],
    length(local.s3_objects) == 0 ? [] : [{
      Sid      = "ReadNodeScriptAndAgent"
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = local.s3_objects
    }],
    var.kms_key_id == null ? [] : [{
      Sid      = "UseTheVolumeKey"
      Effect   = "Allow"
      Action   = ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey"]
      Resource = var.kms_key_id
      Condition = {
        Bool = { "kms:GrantIsForAWSResource" = "true" }
      }
    }],
    [{
      # A failed bootstrap leaves its one-line summary on the instance
      # (stateful recover and status show it): only that tag key, only on
      # this cluster's instances.
      Sid      = "ReportBootstrapFailure"
      Effect   = "Allow"
      Action   = ["ec2:CreateTags"]
      Resource = "arn:${local.partition}:ec2:${local.region}:${local.account_id}:instance/*"
      Condition = {
        StringEquals                = { "aws:ResourceTag/${local.cluster_tag_key}" = var.app_name }
        "ForAllValues:StringEquals" = { "aws:TagKeys" = ["stateful:bootstrap-failure"] }
      }
    }],
  )
}

# A managed policy, as the original's, so that an upgrade updates its
# document in place (a new version) instead of detaching one policy and
# attaching another. Its description is left unset: AWS cannot change a
# policy's description, so setting one would replace the policy.
resource "aws_iam_policy" "node" {
  name = "${var.app_name}-node-policy"
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.node_policy_statements
  })
  tags = local.tags
}

resource "aws_iam_role_policy_attachment" "node" {
  role       = aws_iam_role.node.name
  policy_arn = aws_iam_policy.node.arn
}
