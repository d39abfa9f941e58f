# Every node runs with its own role (modules/node/iam.tf): each statement
# that changes something names that node only, so a compromised node
# cannot detach, attach or read a peer's volume, complete or abandon a
# peer's launch, or read a peer's secret parameters.
locals {
  # S3 objects that run as root on the nodes: the node script and the agent.
  # IAM reads * and ? in an ARN as wildcards and ${...} as a variable: a key
  # holding them is escaped (${*}, ${?}, ${$}) so the ARN names that one
  # object. With a version pinned, only that version may be read.
  s3_object_versions = { for o in [
    { url = var.node_config_script_s3_url, version = try(var.node_config_script_s3.version_id, null) },
    { url = var.agent.s3_uri, version = var.agent.version_id },
  ] : local.s3_arn[o.url] => o.version if o.url != null && o.version != null }
  s3_arn     = { for u in distinct(compact([var.node_config_script_s3_url, var.agent.s3_uri])) : u => "arn:${local.partition}:s3:::${replace(replace(replace(trimprefix(u, "s3://"), "$", "$${$}"), "*", "$${*}"), "?", "$${?}")}" }
  s3_objects = distinct(values(local.s3_arn))

  # A key ID becomes its ARN: IAM statements name keys by ARN.
  kms_key_arn = var.kms_key_id == null ? null : (
    startswith(var.kms_key_id, "arn:") ? var.kms_key_id : "arn:${local.partition}:kms:${local.region}:${local.account_id}:key/${var.kms_key_id}"
  )
  secrets_kms_key_arn = var.secret_files_kms_key_id == null ? null : (
    startswith(var.secret_files_kms_key_id, "arn:") ? var.secret_files_kms_key_id : "arn:${local.partition}:kms:${local.region}:${local.account_id}:key/${var.secret_files_kms_key_id}"
  )

  node_iam = {
    partition           = local.partition
    region              = local.region
    account_id          = local.account_id
    cluster_tag_key     = local.cluster_tag_key
    cluster             = var.app_name
    s3_objects          = local.s3_objects
    kms_key_arn         = local.kms_key_arn
    secrets_kms_key_arn = local.secrets_kms_key_arn
    ssm_access          = var.ssm_access
    s3_object_versions  = local.s3_object_versions
    vpc_only            = var.node_credentials_vpc_only
  }

  # Per node, the ARNs of the parameters its secret files come from.
  secret_parameter_arns = { for id in keys(local.nodes) : id => distinct([
    for f in var.node_secret_files : local.parameter_arn[f.parameter] if f.node_id == id
  ]) }
  parameter_arn = { for f in var.node_secret_files : f.parameter => startswith(f.parameter, "arn:") ? f.parameter : (
    "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter/${trimprefix(f.parameter, "/")}"
  ) }

  # The original module's single role (v0.8.0), kept for an upgrade: the
  # instances launched before it keep their credentials until `stateful
  # roll` replaces them with instances on their nodes' own roles.
  this_cluster = {
    StringEquals = { "aws:ResourceTag/${local.cluster_tag_key}" = var.app_name }
  }
  # Its secrets as the nodes' own roles: parameters and keys of this
  # cluster's nodes only, whatever else is attached (it keeps the SSM
  # managed policy the original attached).
  cluster_parameter_arns = distinct(values(local.parameter_arn))
  original_secret_statements = concat(
    length(local.cluster_parameter_arns) != 0 ? [] : [{
      Sid      = "NoOtherParameters"
      Effect   = "Deny"
      Action   = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory"]
      Resource = "*"
    }],
    length(local.cluster_parameter_arns) == 0 ? [] : [{
      Sid         = "NoOtherParameters"
      Effect      = "Deny"
      Action      = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory"]
      NotResource = local.cluster_parameter_arns
    }],
    length(local.cluster_parameter_arns) != 0 ? [] : [{
      Sid       = "NoOtherParametersKeys"
      Effect    = "Deny"
      Action    = ["kms:Decrypt"]
      Resource  = "*"
      Condition = { Null = { "kms:EncryptionContext:PARAMETER_ARN" = "false" } }
    }],
    length(local.cluster_parameter_arns) == 0 ? [] : [{
      Sid      = "NoOtherParametersKeys"
      Effect   = "Deny"
      Action   = ["kms:Decrypt"]
      Resource = "*"
      Condition = {
        Null            = { "kms:EncryptionContext:PARAMETER_ARN" = "false" }
        StringNotEquals = { "kms:EncryptionContext:PARAMETER_ARN" = local.cluster_parameter_arns }
      }
    }],
  )
  original_policy_statements = concat(local.original_secret_statements, [
    {
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
      Sid      = "ThisClustersLifecycleHooks"
      Effect   = "Allow"
      Action   = ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"]
      Resource = "arn:${local.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${var.app_name}-node-*"
      Condition = {
        StringEquals = { "autoscaling:ResourceTag/${local.cluster_tag_key}" = var.app_name }
      }
    },
  ])

  # keep_original_role unset: kept when the original's role exists (an
  # upgrade), none for a new cluster. A lookup that cannot say (no list of
  # roles) keeps it: the safe side of an upgrade.
  keep_original_role = var.keep_original_role != null ? var.keep_original_role : try(length(data.aws_iam_roles.original[0].names) > 0, true)
}

# Whether the original module's role exists (only when keep_original_role
# is unset).
data "aws_iam_roles" "original" {
  count = var.keep_original_role == null ? 1 : 0

  name_regex = "^${var.app_name}-role$"
}

# The original's role, profile and policy keep its names and, through the
# moved blocks (v0.8.0's addresses, then this module's earlier ones), its
# addresses: the upgrade's apply updates them in place,
# so no instance launched by the original loses its role mid-boot. New
# launch templates name each node's own profile instead; once every node
# has rolled nothing uses these, and keep_original_role = false deletes
# them.
moved {
  from = aws_iam_role.node_role
  to   = aws_iam_role.node
}

moved {
  from = aws_iam_role.node
  to   = aws_iam_role.original[0]
}

moved {
  from = aws_iam_instance_profile.node_instance_profile
  to   = aws_iam_instance_profile.node
}

moved {
  from = aws_iam_instance_profile.node
  to   = aws_iam_instance_profile.original[0]
}

moved {
  from = aws_iam_role_policy_attachment.ssm_policy
  to   = aws_iam_role_policy_attachment.ssm
}

moved {
  from = aws_iam_role_policy_attachment.ssm
  to   = aws_iam_role_policy_attachment.original_ssm[0]
}

moved {
  from = aws_iam_policy.node_policy
  to   = aws_iam_policy.node
}

moved {
  from = aws_iam_policy.node
  to   = aws_iam_policy.original[0]
}

moved {
  from = aws_iam_role_policy_attachment.instance_userdata_policy
  to   = aws_iam_role_policy_attachment.node
}

moved {
  from = aws_iam_role_policy_attachment.node
  to   = aws_iam_role_policy_attachment.original[0]
}

resource "aws_iam_role" "original" {
  count = local.keep_original_role ? 1 : 0

  name        = "${var.app_name}-role"
  description = "The original module's shared role of stateful cluster ${var.app_name}, for instances launched before the upgrade"
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

resource "aws_iam_instance_profile" "original" {
  count = local.keep_original_role ? 1 : 0

  name = "${var.app_name}-instance-profile"
  role = aws_iam_role.original[0].name
  tags = local.tags
}

# The original attached the SSM managed policy; the instances it launched
# keep Session Manager until they are rolled.
resource "aws_iam_role_policy_attachment" "original_ssm" {
  count = local.keep_original_role ? 1 : 0

  role       = aws_iam_role.original[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

# A managed policy, as the original's, so that an upgrade updates its
# document in place (a new version). Its description is left unset: AWS
# cannot change a policy's description, so setting one would replace it.
resource "aws_iam_policy" "original" {
  count = local.keep_original_role ? 1 : 0

  name = "${var.app_name}-node-policy"
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.original_policy_statements
  })
  tags = local.tags
}

resource "aws_iam_role_policy_attachment" "original" {
  count = local.keep_original_role ? 1 : 0

  role       = aws_iam_role.original[0].name
  policy_arn = aws_iam_policy.original[0].arn
}
