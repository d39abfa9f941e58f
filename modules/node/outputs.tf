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
