# tflint: the bundled Terraform ruleset, every rule on.
config {
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "all"
}
