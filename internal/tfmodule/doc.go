// Package tfmodule holds the tests of what crosses between the Terraform
// module and the Go code: tag keys, the agent's config shape, the instance
// policy against the calls the agent makes, and canonical formatting.
package tfmodule
