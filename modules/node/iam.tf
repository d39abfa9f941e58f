# The node's own role. A compromised node holds only these credentials, so
# every statement that changes something names this node: its volume (by
# its ARN, and its tags), the calling instance (ec2:SourceInstanceARN), its
# own group's hooks, its own secret parameters. Deny statements keep the
# secrets to this node whatever else is attached to the role (the managed
# AmazonSSMManagedInstanceCore reads every parameter). The policy's size
# does not grow with the cluster: each node's policy names one node.
locals {
  arn_prefix = "arn:${var.iam.partition}"
  ec2_arn    = "${local.arn_prefix}:ec2:${var.iam.region}:${var.iam.account_id}"

  # IAM names are global to the account: the region tells apart the same
  # app_name in two regions. IAM allows 64 characters in a role or profile
  # name; a long one keeps a readable prefix and a hash that tells it apart.
  role_base = "${var.name}-${var.iam.region}"
  role_name = length(local.role_base) <= 64 ? local.role_base : "${substr(local.role_base, 0, 55)}-${substr(sha256(local.role_base), 0, 8)}"

  this_node = {
    "aws:ResourceTag/${var.iam.cluster_tag_key}" = var.iam.cluster
    "aws:ResourceTag/${var.node_id_tag_key}"     = var.node_id
  }

  # The calling instance, and only it: its ARN must be the instance the
  # request names (ec2:InstanceID is the target's ID).
  calling_instance = {
    "ec2:SourceInstanceARN" = "${local.ec2_arn}:instance/$${ec2:InstanceID}"
  }

  # The node's own volume by ARN: a tag alone can be written by anyone in
  # the account who may tag volumes.
  volume_arn = "${local.ec2_arn}:volume/${aws_ebs_volume.node_data.id}"

  # The SSM reads of a parameter's value (GetParametersByPath names a path,
  # GetParameterHistory returns past values).
  parameter_reads = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory"]

  policy_statements = concat(
    [
      {
        # These calls support no resource-level permissions.
        Sid      = "Describe"
        Effect   = "Allow"
        Action   = ["ec2:DescribeVolumes", "ec2:DescribeInstances", "autoscaling:DescribeAutoScalingInstances"]
        Resource = "*"
      },
      {
        Sid       = "ThisNodesVolume"
        Effect    = "Allow"
        Action    = ["ec2:AttachVolume", "ec2:DetachVolume"]
        Resource  = local.volume_arn
        Condition = { StringEquals = local.this_node }
      },
      {
        # Both calls authorize the instance too: only this node's instances
        # (the group tags them), and of those only the caller itself.
        Sid      = "ToAndFromTheCallingInstance"
        Effect   = "Allow"
        Action   = ["ec2:AttachVolume", "ec2:DetachVolume"]
        Resource = "${local.ec2_arn}:instance/*"
        Condition = {
          StringEquals = local.this_node
          ArnEquals    = local.calling_instance
        }
      },
      {
        # A failed bootstrap leaves its one-line summary on its own instance
        # and whether a relaunch can fix it (stateful recover and status show
        # them), a good one its ready mark (the roll counts the node back
        # only with it): those tag keys only, on the calling instance only.
        Sid      = "ReportBootstrapFailure"
        Effect   = "Allow"
        Action   = ["ec2:CreateTags"]
        Resource = "${local.ec2_arn}:instance/*"
        Condition = {
          StringEquals                = local.this_node
          ArnEquals                   = local.calling_instance
          "ForAllValues:StringEquals" = { "aws:TagKeys" = ["stateful:bootstrap-failure", "stateful:bootstrap-failure-class", "stateful:ready"] }
        }
      },
      {
        Sid      = "ThisNodesLifecycleHooks"
        Effect   = "Allow"
        Action   = ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"]
        Resource = "${local.arn_prefix}:autoscaling:${var.iam.region}:${var.iam.account_id}:autoScalingGroup:*:autoScalingGroupName/${var.name}"
        Condition = {
          StringEquals = {
            "autoscaling:ResourceTag/${var.iam.cluster_tag_key}" = var.iam.cluster
            "autoscaling:ResourceTag/${var.node_id_tag_key}"     = var.node_id
          }
        }
      },
    ],
    # The node script and the agent run as root: the latest version of an
    # object, or with a version pinned only that version (s3:VersionId).
    length([for o in var.iam.s3_objects : o if !contains(keys(var.iam.s3_object_versions), o)]) == 0 ? [] : [{
      Sid      = "ReadNodeScriptAndAgent"
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = [for o in var.iam.s3_objects : o if !contains(keys(var.iam.s3_object_versions), o)]
    }],
    [for i, o in sort(keys(var.iam.s3_object_versions)) : {
      Sid       = "ReadPinnedVersion${i}"
      Effect    = "Allow"
      Action    = ["s3:GetObjectVersion"]
      Resource  = o
      Condition = { StringEquals = { "s3:VersionId" = var.iam.s3_object_versions[o] } }
    }],
    length(var.secret_parameter_arns) == 0 ? [] : [{
      Sid      = "ThisNodesSecretFiles"
      Effect   = "Allow"
      Action   = ["ssm:GetParameter"]
      Resource = var.secret_parameter_arns
    }],
    # Whatever else the role holds (ssm_access = "managed", a policy the
    # user attaches): no parameter but this node's own is read, and no
    # key decrypts another parameter's value (SSM names the parameter in
    # the encryption context of every SecureString it decrypts).
    length(var.secret_parameter_arns) != 0 ? [] : [{
      Sid      = "NoOtherParameters"
      Effect   = "Deny"
      Action   = local.parameter_reads
      Resource = "*"
    }],
    length(var.secret_parameter_arns) == 0 ? [] : [{
      Sid         = "NoOtherParameters"
      Effect      = "Deny"
      Action      = local.parameter_reads
      NotResource = var.secret_parameter_arns
    }],
    length(var.secret_parameter_arns) != 0 ? [] : [{
      Sid       = "NoOtherParametersKeys"
      Effect    = "Deny"
      Action    = ["kms:Decrypt"]
      Resource  = "*"
      Condition = { Null = { "kms:EncryptionContext:PARAMETER_ARN" = "false" } }
    }],
    length(var.secret_parameter_arns) == 0 ? [] : [{
      Sid      = "NoOtherParametersKeys"
      Effect   = "Deny"
      Action   = ["kms:Decrypt"]
      Resource = "*"
      Condition = {
        Null            = { "kms:EncryptionContext:PARAMETER_ARN" = "false" }
        StringNotEquals = { "kms:EncryptionContext:PARAMETER_ARN" = var.secret_parameter_arns }
      }
    }],
    # Credentials copied off the instance work nowhere else: AWS's
    # documented pair of statements, for VPCs whose every AWS call goes
    # through VPC endpoints (aws:SourceVpc exists only there).
    !var.iam.vpc_only ? [] : [
      {
        Sid      = "OnlyFromTheInstancesVPC"
        Effect   = "Deny"
        Action   = "*"
        Resource = "*"
        Condition = {
          StringNotEquals = { "aws:ec2InstanceSourceVPC" = "$${aws:SourceVpc}" }
          Null            = { "ec2:SourceInstanceARN" = "false" }
          BoolIfExists    = { "aws:ViaAWSService" = "false" }
        }
      },
      {
        Sid      = "OnlyFromTheInstancesAddress"
        Effect   = "Deny"
        Action   = "*"
        Resource = "*"
        Condition = {
          StringNotEquals = { "aws:ec2InstanceSourcePrivateIPv4" = "$${aws:VpcSourceIp}" }
          Null            = { "ec2:SourceInstanceARN" = "false" }
          BoolIfExists    = { "aws:ViaAWSService" = "false" }
        }
      },
    ],
    # The EBS documentation's statements for a customer managed key: a
    # grant only for an AWS resource, and every use only through EC2.
    var.iam.kms_key_arn == null ? [] : [
      {
        Sid      = "VolumeKeyGrantThroughEC2"
        Effect   = "Allow"
        Action   = ["kms:CreateGrant"]
        Resource = var.iam.kms_key_arn
        Condition = {
          Bool         = { "kms:GrantIsForAWSResource" = "true" }
          StringEquals = { "kms:ViaService" = "ec2.${var.iam.region}.amazonaws.com" }
        }
      },
      {
        Sid       = "VolumeKeyThroughEC2"
        Effect    = "Allow"
        Action    = ["kms:Decrypt", "kms:DescribeKey"]
        Resource  = var.iam.kms_key_arn
        Condition = { StringEquals = { "kms:ViaService" = "ec2.${var.iam.region}.amazonaws.com" } }
      },
    ],
    # Parameters under a customer managed key: decrypted only through SSM,
    # and only for this node's parameters.
    var.iam.secrets_kms_key_arn == null || length(var.secret_parameter_arns) == 0 ? [] : [{
      Sid      = "SecretFilesKeyThroughSSM"
      Effect   = "Allow"
      Action   = ["kms:Decrypt"]
      Resource = var.iam.secrets_kms_key_arn
      Condition = { StringEquals = {
        "kms:ViaService"                      = "ssm.${var.iam.region}.amazonaws.com"
        "kms:EncryptionContext:PARAMETER_ARN" = var.secret_parameter_arns
      } }
    }],
  )

  # What the SSM agent needs for Session Manager and nothing more (the
  # AWS documentation's minimal instance policy): no ssm:GetParameter*.
  session_manager_statements = [
    {
      Sid      = "SessionManager"
      Effect   = "Allow"
      Action   = ["ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"]
      Resource = "*"
    },
  ]
}

resource "aws_iam_role" "node" {
  name        = local.role_name
  description = "Node ${var.node_id} of stateful cluster ${var.iam.cluster}"
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
  name = local.role_name
  role = aws_iam_role.node.name
  tags = local.tags
}

resource "aws_iam_role_policy" "node" {
  name = "stateful-node"
  role = aws_iam_role.node.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.policy_statements
  })
}

resource "aws_iam_role_policy" "session_manager" {
  count = var.iam.ssm_access == "session-manager" ? 1 : 0

  name = "session-manager"
  role = aws_iam_role.node.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.session_manager_statements
  })
}

resource "aws_iam_role_policy_attachment" "ssm_managed" {
  count = var.iam.ssm_access == "managed" ? 1 : 0

  role       = aws_iam_role.node.name
  policy_arn = "${local.arn_prefix}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}
