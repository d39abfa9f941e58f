# Where the nodes get the agent, and which stateful the roll trigger runs.
# By default both use the release this module pins (release.tf, written by
# `make release`), fetched from agent.base_url with the release layout
# <base_url>/v<version>/stateful-<os>-<arch>; internal/userdata's
# ReleaseAgent makes the same choice for the local lab.
locals {
  # internal/release.DefaultBaseURL holds the same URL (a Go test checks).
  release_default_base_url = "https://github.com/stateful-aws/stateful/releases/download"
  release_base_url         = trimsuffix(coalesce(var.agent.base_url, local.release_default_base_url), "/")

  agent_is_release = var.agent.url == null && var.agent.s3_uri == null && var.agent.path == null

  # The user-data template's agent inputs: a URL with {arch} and the sha256
  # of each architecture's binary, an S3 object, or a path in the image.
  agent_template_vars = {
    agent_url          = local.agent_is_release ? "${local.release_base_url}/v${local.release.version}/stateful-linux-{arch}" : (var.agent.url == null ? "" : var.agent.url)
    agent_sha256_amd64 = local.agent_is_release ? local.release.sha256["linux-amd64"] : (var.agent.url == null ? "" : var.agent.sha256)
    agent_sha256_arm64 = local.agent_is_release ? local.release.sha256["linux-arm64"] : (var.agent.url == null ? "" : var.agent.sha256)
    agent_s3_uri       = var.agent.s3_uri == null ? "" : var.agent.s3_uri
    agent_s3_sha256    = var.agent.s3_uri == null ? "" : var.agent.sha256
    agent_s3_owner     = var.agent.s3_uri == null ? "" : coalesce(var.agent.expected_bucket_owner, local.account_id)
    agent_s3_version   = var.agent.version_id == null ? "" : var.agent.version_id
    agent_path         = var.agent.path == null ? "" : var.agent.path
    agent_version      = var.agent.version
  }

  # The roll trigger's script: the pinned release's stateful for the
  # machine running Terraform (templates/roll.sh.tftpl).
  roll_script = templatefile("${path.module}/templates/roll.sh.tftpl", {
    version  = local.release.version
    base_url = local.release_base_url
    sha256   = local.release.sha256
  })
}
