output "asg_name" {
  description = "Name of the node's Auto Scaling group."
  value       = aws_autoscaling_group.node.name
}

output "eni_id" {
  description = "ID of the node's network interface."
  value       = aws_network_interface.node_network_interface.id
}

output "volume_id" {
  description = "ID of the node's data volume."
  value       = aws_ebs_volume.node_data.id
}

output "launch_template_id" {
  description = "ID of the node's launch template."
  value       = aws_launch_template.node.id
}

output "launch_template_version" {
  description = "Latest version of the node's launch template, which the group launches."
  value       = aws_launch_template.node.latest_version
}

output "launch_sha256" {
  description = "SHA-256 of everything the node runs with (image, type, user data, profile, root volume, key, network): it changes exactly when the launch template gets a new version that the node must roll to, and never for a tag."
  # The user data inside is sensitive; its hash is not.
  value = nonsensitive(sha256(jsonencode(local.launch)))
}

output "iam_role_name" {
  description = "Name of the node's own IAM role."
  value       = aws_iam_role.node.name
}

output "iam_policy" {
  description = "The node role's policy document (JSON), for tests and audits."
  value       = aws_iam_role_policy.node.policy
}

output "launch_instance_profile" {
  description = "Name of the instance profile the node's launch template names."
  value       = aws_launch_template.node.iam_instance_profile[0].name
}

output "ssm_policies" {
  description = "What the node's role gets for Systems Manager: `inline` (the Session Manager statements, or null) and `managed` (ARNs of attached AWS managed policies)."
  value = {
    inline  = length(aws_iam_role_policy.session_manager) == 0 ? null : aws_iam_role_policy.session_manager[0].policy
    managed = [for a in aws_iam_role_policy_attachment.ssm_managed : a.policy_arn]
  }
}
