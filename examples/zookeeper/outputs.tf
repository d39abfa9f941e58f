output "connect_string" {
  description = "ZooKeeper connect string of the ensemble."
  value       = join(",", [for n in local.nodes : "${n.node_ip}:2181"])
}

output "asg_names" {
  description = "The nodes' Auto Scaling groups."
  value       = module.zookeeper.asg_names
}
