# Every node runs with its own role (modules/node/iam.tf): each statement
# that changes something names that node only, so a compromised node
# cannot detach, attach or read a peer's volume, complete or abandon a
# peer's launch, or read a peer's secret parameters.
locals {
  # S3 objects that run as root on the nodes: the node script and the agent.
  # With a version pinned, only that version may be read.
  s3_objects = compact([
    var.node_config_script_s3_url == null ? "" : "arn:${local.partition}:s3:::${trimprefix(var.node_config_script_s3_url, "s3://")}",
    var.agent.s3_uri == null ? "" : "arn:${local.partition}:s3:::${trimprefix(var.agent.s3_uri, "s3://")}",
  ])

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
  original_policy_statements = [
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
  ]
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
  count = var.keep_original_role ? 1 : 0

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
  count = var.keep_original_role ? 1 : 0

  name = "${var.app_name}-instance-profile"
  role = aws_iam_role.original[0].name
  tags = local.tags
}

# The original attached the SSM managed policy; the instances it launched
# keep Session Manager until they are rolled.
resource "aws_iam_role_policy_attachment" "original_ssm" {
  count = var.keep_original_role ? 1 : 0

  role       = aws_iam_role.original[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

# A managed policy, as the original's, so that an upgrade updates its
# document in place (a new version). Its description is left unset: AWS
# cannot change a policy's description, so setting one would replace it.
resource "aws_iam_policy" "original" {
  count = var.keep_original_role ? 1 : 0

  name = "${var.app_name}-node-policy"
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.original_policy_statements
  })
  tags = local.tags
}

resource "aws_iam_role_policy_attachment" "original" {
  count = var.keep_original_role ? 1 : 0

  role       = aws_iam_role.original[0].name
  policy_arn = aws_iam_policy.original[0].arn
}
